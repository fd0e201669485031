"""Reports: the leaderboard, the level summary, published references, plots."""
