"""Custom search attributes, so operators can filter runs in the Temporal UI.

Values are statuses, channel names, warehouse codes and priority tags: never personal data.
"""

from temporalio.common import SearchAttributeKey

ORDER_STATUS = SearchAttributeKey.for_keyword("OrderStatus")
CHANNEL = SearchAttributeKey.for_keyword("Channel")
WAREHOUSE = SearchAttributeKey.for_keyword("Warehouse")
PRIORITY = SearchAttributeKey.for_keyword("Priority")

ALL = (ORDER_STATUS, CHANNEL, WAREHOUSE, PRIORITY)
