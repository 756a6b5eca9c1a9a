"""Frame counts: ``rules`` states what each model accepts, ``plan`` builds a session's plan,
``seams`` says where its segments join in the stitched video."""
