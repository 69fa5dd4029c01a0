"""The model lifecycle (L4): gates, champion comparison, promotion and stage moves,
monitoring new data, retraining by replaying a recorded cell, and the watch loop.

May import every lower package (``store``, ``data``, ``frameworks``, ``drift``, ``capture``,
``bundle``, ``charts``); never a front end (``commands``, ``magics``, ``cli``, ``widgets``,
``server``).
"""
