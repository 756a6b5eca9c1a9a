"""Event sources that turn storage events into started sessions, through one starter."""
