"""The one backoff every retry loop uses (capcut_mate/backoff.py)."""

from capcut_mate.backoff import Backoff


def test_delays_double_from_the_base_up_to_the_cap_and_start_over_after_a_success():
    backoff = Backoff(0.5, cap=3.0)
    assert [backoff.next_delay() for _ in range(5)] == [0.5, 1.0, 2.0, 3.0, 3.0]
    backoff.reset()
    assert backoff.next_delay() == 0.5


def test_without_a_cap_the_delays_keep_doubling():
    backoff = Backoff(0.25)
    assert [backoff.next_delay() for _ in range(4)] == [0.25, 0.5, 1.0, 2.0]


def test_full_jitter_stays_between_zero_and_the_capped_delay_and_varies():
    backoff = Backoff(1.0, cap=4.0, jitter=True)
    delays = [backoff.next_delay() for _ in range(200)]
    ceilings = [min(4.0, 2.0**n) for n in range(200)]
    assert all(0 <= delay <= ceiling for delay, ceiling in zip(delays, ceilings))
    assert len(set(delays)) > 100  # random, not a fixed schedule
