"""Tests of the staff console (/console): access, workflows, browser, serve."""
