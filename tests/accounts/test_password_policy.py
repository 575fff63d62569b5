"""Which passwords may be chosen."""

from __future__ import annotations

import pytest

from app.accounts.password_policy import common_passwords, password_problem


@pytest.mark.parametrize(
    "password",
    [
        "violet-kestrel-harbour",
        "correct horse battery staple",
        "Tr0ub4dor&3xtra",
        "dragonfire-2024!",
        "my summer in lisbon",
    ],
)
def test_long_uncommon_passwords_are_accepted(password: str) -> None:
    assert password_problem(password, email="ana@example.com", display_name="Ana Silva") is None


@pytest.mark.parametrize(
    ("password", "reason"),
    [
        ("short", "at least 10"),
        ("x" * 257, "at most 256"),
        ("abababababab", "too few"),
        ("password1234", "too common"),
        ("QWERTYUIOP", "too common"),
        ("!!sunshine2024", "too common"),
        ("P@ssw0rd!!!", "too common"),
        ("0987654321", "too common"),
        ("ana.silva@example.com", "email or your name"),
        ("anasilva1990", "email or your name"),
        ("Ana Silva 2024", "email or your name"),
    ],
)
def test_weak_passwords_are_refused_with_a_reason(password: str, reason: str) -> None:
    problem = password_problem(password, email="ana.silva@example.com", display_name="Ana Silva")
    assert problem is not None and reason in problem


def test_the_built_in_list_has_a_few_hundred_lower_case_entries() -> None:
    passwords = common_passwords()
    assert 300 <= len(passwords) <= 2000
    assert all(p == p.lower() and len(p) >= 4 for p in passwords)
    assert {"123456", "password", "qwertyuiop", "iloveyou"} <= passwords
