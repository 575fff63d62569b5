"""Customer profiles: what segments are made of."""
