"""The web pages `parcelflow serve` serves beside the API: the customer tracking page
(`track.py`) and the customer-service console; what they share is in `base.py`."""
