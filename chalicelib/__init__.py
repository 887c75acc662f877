"""The records migration service: everything app.py's handlers call into."""
