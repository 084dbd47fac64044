"""Rig building: backends that generate the endpoint and tween images of a rig folder."""
