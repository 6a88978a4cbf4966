"""Tests of scheduler: broadcasts, the calendar, the dispatcher, the service, the rate limiter."""
