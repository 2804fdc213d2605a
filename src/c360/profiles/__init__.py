"""The 360 profile: one person's records across every source they may be seen in."""
