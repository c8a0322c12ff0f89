"""parcelflow: an event-sourced parcel lifecycle and exception tracker."""

__version__ = "0.1.0"
