"""The catalogue: merchants, their stores (online or in store) and their products."""
