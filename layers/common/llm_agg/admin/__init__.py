"""What the admin API does, apart from HTTP: bodies, live key checks, status and usage views."""
