"""No Django models: the identity map lives in the warehouse (table `identity_map`)."""
