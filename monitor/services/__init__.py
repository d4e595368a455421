"""The chat monitor's services: ``chat`` (conversations and the chat loop), ``concepts``
(active concepts, attribution)."""
