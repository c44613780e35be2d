"""Personal and predictive loyalty: purchase history as model input (SQL), buy-till-you-die models
(BG/NBD, Pareto/NBD) and the Gamma-Gamma spend model, recommendations, predicted segments with a
control group, runs that backtest themselves, and explanations (see docs/predictive.md)."""
