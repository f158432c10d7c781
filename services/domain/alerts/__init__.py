"""Alerts, pure: what an alert is (``model``), the rules' configuration (``rules``), each kind's rule
(``transactions``, ``score_drops``, ``handoffs``, ``spikes``) and what operators do to them (``actions``)."""
