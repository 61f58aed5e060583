"""The exchange boundary: turning ccxt-shaped data into domain values."""
