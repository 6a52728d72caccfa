"""Knowledge assistant over the documents of the programme Kommunala partnerskap."""

__version__ = "0.1.0"
