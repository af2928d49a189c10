"""Custom search attributes, so operators can filter runs in the Temporal UI.

Values are statuses, channel names, warehouse codes, priority tags, ticket types and order ids:
never personal data.
"""

from temporalio.common import SearchAttributeKey, SearchAttributePair, TypedSearchAttributes

from models.order import Order, OrderStatus

ORDER_STATUS = SearchAttributeKey.for_keyword("OrderStatus")
CHANNEL = SearchAttributeKey.for_keyword("Channel")
WAREHOUSE = SearchAttributeKey.for_keyword("Warehouse")
PRIORITY = SearchAttributeKey.for_keyword("Priority")
# After-sales tickets; OrderId links a ticket's run to its order's in the UI (OrderId="taobao:default:123").
TICKET_STATUS = SearchAttributeKey.for_keyword("TicketStatus")
TICKET_TYPE = SearchAttributeKey.for_keyword("TicketType")
ORDER_ID = SearchAttributeKey.for_keyword("OrderId")
# The order's standing exception tags (fuzzy_address, out_of_stock, ...): ExceptionTags = "out_of_stock".
EXCEPTION_TAGS = SearchAttributeKey.for_keyword_list("ExceptionTags")

ALL = (ORDER_STATUS, CHANNEL, WAREHOUSE, PRIORITY, TICKET_STATUS, TICKET_TYPE, ORDER_ID, EXCEPTION_TAGS)


def cli_type(key: SearchAttributeKey) -> str:
    """The type name `temporal server start-dev --search-attribute` expects."""
    return "KeywordList" if key is EXCEPTION_TAGS else "Keyword"


def receipt_search_attributes(order: Order) -> TypedSearchAttributes:
    """What a new order's run is indexed by from its start, before its first workflow task (the
    workflow upserts the same values at receipt, as its recorded histories do)."""
    return TypedSearchAttributes([
        SearchAttributePair(ORDER_STATUS, OrderStatus.RECEIVED.value),
        SearchAttributePair(CHANNEL, order.channel), SearchAttributePair(PRIORITY, order.priority),
    ])
