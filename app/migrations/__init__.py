"""Tortoise migrations, one package per feature; never edited once landed."""
