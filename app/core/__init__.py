"""Building blocks with no business logic: money, clock, ids, errors, pagination."""
