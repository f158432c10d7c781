"""Documents made from the Mission Experience report: the weekly digest (``mission-pulse report --week``)."""
