"""On-site safety visits, their checklist and the sub-centers' visit plan."""
