"""Real servers started by test fixtures, each with its config kept beside it."""
