"""The joint meetings of the routine cycle (Art. 18(1)): the semiannual joint meeting and the annual summary meeting
with its satisfaction questionnaire."""
