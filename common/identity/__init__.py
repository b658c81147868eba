"""Who people are: accounts, passwords, second factors, sessions and the OAuth server's records."""
