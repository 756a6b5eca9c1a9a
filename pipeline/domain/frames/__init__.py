"""Frame counts: ``rules`` states what each model accepts, ``plan`` builds a session's plan."""
