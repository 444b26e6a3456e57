"""Serving advice: does a deployment's traffic fit real-time or batch serving, and at what cost.

Layers, imported one way: `traffic` (what the stored predictions show), `compute`
(the active version's measured predict time), `cost` (monthly cost of each option from
the spec's prices), `advise` (the recommendation and its reasons, and the event when it
changes and holds).
"""
