"""Counting attempts in sliding windows (sign-in failures, wrong codes): shared by every
process through the database, or through Redis when REDIS_URL is set."""
