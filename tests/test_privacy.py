"""Small-count suppression (analytics/privacy.py): worked examples and a brute-force intruder.

The intruder sees the published table (values, which cells are suppressed, the
building totals) and the registry, knows k and the algorithm, and tries every
possible value of the suppressed cells: a cell is protected when more than one
value of it reproduces exactly what was published.
"""

from __future__ import annotations

import itertools
import random

import numpy as np
import pytest

from campuslab.analytics.privacy import (
    CellStatus,
    check_k,
    coarsen,
    protect_counts,
    small_counts,
    unprotected,
    withheld_spaces,
)

NAN = float("nan")
SEATS = 40


def one_building(rooms: list[float], method: str = "total", k: int = 5):
    return protect_counts(
        np.array([rooms], dtype=float),
        np.zeros(len(rooms), dtype=int),
        np.full(len(rooms), SEATS),
        k=k,
        complementary=method,
    )


def published(table) -> tuple:
    """What a reader of the export sees: values with suppressed cells as None, and totals."""

    def cells(values, status):
        return tuple(
            None
            if s not in (CellStatus.PUBLISHED, CellStatus.MISSING)
            else ("missing" if s == CellStatus.MISSING else float(v))
            for v, s in zip(values.ravel(), status.ravel(), strict=True)
        )

    return cells(table.space_values, table.space_status), cells(
        table.total_values, table.total_status
    )


def feasible_solutions(rooms: list[int], method: str, *, knows_algorithm: bool, top: int = 16):
    """Every assignment of the suppressed rooms an intruder cannot rule out (brute force)."""
    seen = published(one_building(rooms, method))
    hidden = [i for i, v in enumerate(seen[0]) if v is None]
    total = seen[1][0]
    solutions = set()
    for guess in itertools.product(range(top), repeat=len(hidden)):
        candidate = list(rooms)
        for i, value in zip(hidden, guess, strict=True):
            candidate[i] = value
        if knows_algorithm:
            consistent = published(one_building(candidate, method)) == seen
        else:  # only the published total and non-negativity
            consistent = total is None or sum(candidate) == total
        if consistent:
            solutions.add(guess)
    return solutions


def feasible_values(rooms: list[int], method: str, *, knows_algorithm: bool, top: int = 16):
    """For each suppressed room, every value an intruder cannot rule out (brute force)."""
    seen = published(one_building(rooms, method))
    hidden = [i for i, v in enumerate(seen[0]) if v is None]
    total = seen[1][0]
    feasible: dict[int, set[int]] = {i: set() for i in hidden}
    for guess in itertools.product(range(top), repeat=len(hidden)):
        candidate = list(rooms)
        for i, value in zip(hidden, guess, strict=True):
            candidate[i] = value
        if knows_algorithm:
            consistent = published(one_building(candidate, method)) == seen
        else:  # only the published total and non-negativity
            consistent = total is None or sum(candidate) == total
        if consistent:
            for i, value in zip(hidden, guess, strict=True):
                feasible[i].add(value)
    return feasible


# -- primary suppression ------------------------------------------------------------------


def test_counts_one_to_k_minus_one_are_suppressed_zero_and_k_are_not():
    values = np.array([0, 1, 2, 3, 4, 5, 6, 0.25, 4.99, NAN])
    assert small_counts(values, k=5).tolist() == [
        False,
        True,
        True,
        True,
        True,
        False,
        False,
        True,
        True,
        False,
    ]
    assert small_counts(values, k=3).tolist()[:4] == [False, True, True, False]


def test_k_is_configurable_and_checked():
    assert check_k(10) == 10
    for bad in (2, 1, 0, -5, 2.5, True, "5"):
        with pytest.raises(ValueError, match="k must be"):
            check_k(bad)
    table = one_building([7, 20, 0], k=10)
    assert published(table) == ((None, 20.0, 0.0), (None,))


def test_spaces_below_k_seats_are_withheld():
    assert withheld_spaces(np.array([1, 2, 3, 4, 5, 40]), k=5).tolist() == [
        True,
        True,
        True,
        True,
        False,
        False,
    ]


# -- complementary suppression: worked examples ------------------------------------------


def test_worked_example_3_10_12_suppresses_the_total_by_default():
    table = one_building([3, 10, 12])
    assert published(table) == ((None, 10.0, 12.0), (None,))
    assert table.space_status.tolist() == [[CellStatus.PRIMARY, 0, 0]]
    assert table.total_status.tolist() == [[CellStatus.COMPLEMENTARY]]
    assert (table.primary_cells, table.complementary_cells) == (1, 1)


def test_worked_example_3_10_12_with_siblings_suppresses_the_next_smallest():
    table = one_building([3, 10, 12], "siblings")
    assert published(table) == ((None, None, 12.0), (25.0,))
    assert table.space_status.tolist() == [[CellStatus.PRIMARY, CellStatus.COMPLEMENTARY, 0]]
    # the 3 could be anything from 1 to 4 given 3 + x = 13 and x >= 5, x <= 12
    assert feasible_values([3, 10, 12], "siblings", knows_algorithm=False)[0] >= {1, 2, 3, 4}


@pytest.mark.parametrize(
    ("rooms", "expected"),
    [
        ([3, 10, 12], ((None, None, 12.0), (25.0,))),
        ([1, 2, 30], ((None, None, None), (33.0,))),  # 1 + 2 = 3 < k: one more
        ([4, 4, 0], ((None, None, 0.0), (None,))),  # 4 + 4 = 8 pins both: no sibling left
        ([4, 10, 10], ((None, None, None), (24.0,))),  # 4 + 10 with a 10 published pins the 4
        ([2, 3, 0, 9], ((None, None, 0.0, 9.0), (14.0,))),  # 2 + 3 = 5: each in 1..4
        ([0, 0, 0], ((0.0, 0.0, 0.0), (0.0,))),
        ([2, 0, 0], ((None, 0.0, 0.0), (None,))),  # total 2 is primary itself
    ],
)
def test_sibling_method_examples(rooms, expected):
    assert published(one_building(rooms, "siblings")) == expected


def test_zero_is_published_and_a_total_below_k_is_primary():
    table = one_building([0, 2, 0])
    assert published(table) == ((0.0, None, 0.0), (None,))
    assert table.total_status.tolist() == [[CellStatus.PRIMARY]]


def test_missing_cells_are_not_cells():
    table = one_building([NAN, 12, 3])
    assert table.space_status.tolist() == [
        [CellStatus.MISSING, CellStatus.PUBLISHED, CellStatus.PRIMARY]
    ]
    empty = one_building([NAN, NAN])
    assert empty.total_status.tolist() == [[CellStatus.MISSING]]


def test_buildings_are_protected_separately():
    counts = np.array([[3, 10, 20, 30], [0, 10, 2, 30]], dtype=float)
    table = protect_counts(counts, np.array([0, 0, 1, 1]), np.full(4, 40), k=5)
    assert np.isnan(table.total_values[0, 0]) and table.total_values[0, 1] == 50
    assert table.total_values[1, 0] == 10 and np.isnan(table.total_values[1, 1])
    assert (table.primary_cells, table.complementary_cells) == (2, 2)


# -- the brute-force intruder ------------------------------------------------------------


def _random_rooms(rng: random.Random) -> list[int]:
    return [rng.choice([0, 0, 1, 2, 3, 4, 5, 6, 8, 10, 12]) for _ in range(rng.randint(2, 4))]


def test_default_method_survives_an_intruder_who_knows_the_algorithm():
    rng = random.Random(7)
    cases = [[3, 10, 12], [4, 10, 10], [4, 4, 0], [1, 2, 30 % 16], [4, 5], [1, 5, 5, 0]]
    cases += [_random_rooms(rng) for _ in range(40)]
    checked = 0
    for rooms in cases:
        feasible = feasible_values(rooms, "total", knows_algorithm=True)
        for room, values in feasible.items():
            checked += 1
            assert rooms[room] in values
            # everything 1 .. k-1 stays possible: the intruder learns only "fewer than 5"
            assert values >= {1, 2, 3, 4}, (rooms, room, sorted(values))
    assert checked > 40


def test_sibling_method_survives_subtraction_from_the_total():
    rng = random.Random(11)
    for rooms in [[3, 10, 12], [1, 2, 12], [4, 10, 10], [4, 4, 0]] + [
        _random_rooms(rng) for _ in range(40)
    ]:
        for room, values in feasible_values(rooms, "siblings", knows_algorithm=False).items():
            assert len(values) >= 2, (rooms, room, sorted(values))


def test_sibling_method_leaks_to_an_intruder_who_knows_the_algorithm():
    """Why the total is the default: [4, 10, 10] publishes [-, -, -] / 24, and only the
    values 4, 10, 10 in some order reproduce that: a count of 4 is disclosed."""
    solutions = feasible_solutions([4, 10, 10], "siblings", knows_algorithm=True)
    assert solutions == set(itertools.permutations((4, 10, 10)))
    # the default method leaves the intruder 1 .. 4 for the small room
    assert feasible_values([4, 10, 10], "total", knows_algorithm=True) == {0: {1, 2, 3, 4}}


# -- coarser intervals come from the protected 15-minute cells ---------------------------


def test_an_hour_is_suppressed_when_any_of_its_quarters_is():
    quarters = np.array(
        [[20, 30, 3], [20, 30, 6], [20, 30, 8], [20, 30, 9], [0, 0, 0], [0, 0, 0]], dtype=float
    )
    fine = protect_counts(quarters, np.zeros(3, int), np.full(3, 40))
    hourly = coarsen(fine, np.array([0, 0, 0, 0, 1, 1]), "mean")
    # room 3's hourly mean (6.5) is >= k, but published it would give its first quarter back
    assert np.isnan(hourly.space_values[0, 2])
    assert hourly.space_status[0, 2] == CellStatus.PRIMARY
    assert hourly.space_values[0, :2].tolist() == [20.0, 30.0]
    assert np.isnan(hourly.total_values[0, 0])
    assert hourly.total_status[0, 0] == CellStatus.COMPLEMENTARY
    assert hourly.space_values[1].tolist() == [0.0, 0.0, 0.0]
    assert hourly.total_values[1].tolist() == [0.0]


def test_coarse_aggregates_and_missing_quarters():
    quarters = np.array([[10, NAN], [20, NAN], [30, 12]], dtype=float)
    fine = protect_counts(quarters, np.zeros(2, int), np.full(2, 40))
    bucket = np.array([0, 0, 0])
    assert coarsen(fine, bucket, "mean").space_values.tolist() == [[20.0, 12.0]]
    assert coarsen(fine, bucket, "max").space_values.tolist() == [[30.0, 12.0]]
    assert coarsen(fine, bucket, "min").space_values.tolist() == [[10.0, 12.0]]
    assert coarsen(fine, bucket, "max").total_values.tolist() == [[42.0]]
    with pytest.raises(ValueError, match="aggregate"):
        coarsen(fine, bucket, "median")
    with pytest.raises(ValueError, match="non-decreasing"):
        coarsen(fine, np.array([1, 0, 0]))


def test_unprotected_table_for_facilities_keeps_every_count():
    table = unprotected(np.array([[3.0, 10, 12]]), np.zeros(3, int))
    assert table.space_values.tolist() == [[3.0, 10.0, 12.0]]
    assert table.total_values.tolist() == [[25.0]]
    assert table.primary_cells == table.complementary_cells == 0
