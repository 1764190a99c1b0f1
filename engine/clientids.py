"""Which client ids an account may still use: a resubmitted order never trades twice, in bounded memory.

Rule (Hyperliquid's rule for nonces)
    Each account keeps the ``KEPT`` (100) highest client ids it has used, ascending
    (``Account.client_ids``). A new order's client id must be positive and not among them, and,
    once 100 are kept, above the smallest of them. Accepting the order adds its id and, past 100,
    drops the smallest.

Why a resubmission is always refused
    An id once used is either still kept (``DUPLICATE_CLIENT_ID``) or was dropped as the smallest.
    The smallest kept id never falls (an id is added only above it, and dropping the smallest
    raises it), so a dropped id stays at or below it for good (``CLIENT_ID_TOO_LOW``).

Why not "unique forever" or "unique among open orders"
    Unique forever kept every id an account ever used: memory that grows with every order, without
    end. Unique among open orders (Binance) lets a filled order's id be reused, so a gateway that
    resends an order after a timeout can trade it twice. This rule needs ids only to rise roughly:
    they need not be consecutive (a gateway may number them by its clock), and an order still gets
    in after as many as 99 with higher ids.

Memory
    Per account, at most 100 ids: a list of 920 bytes and the ids themselves, 28 bytes each below
    2^30 and 32 below 2^60, so 3.7 KB (4.1 KB for ids that are millisecond timestamps), whatever
    the number of orders (``tests/test_client_ids.py`` measures it over 200,000 orders); the state
    hash covers the ids. Cancel and amend by client id find the order through
    ``Account.client_orders``, an entry per resting order (about 40 bytes, the ints shared with the
    order), gone with the order.

Cost
    A rising id (the usual case) is checked and kept in O(1) plus one move of 100 pointers when the
    smallest is dropped; any other id costs a binary search and an insertion into the list.
"""

from bisect import bisect_left, insort

from engine.reasons import RejectReason

KEPT = 100


def client_id_problem(kept: list[int], client_id: int) -> RejectReason | None:
    """Why ``client_id`` may not be used by an account that keeps ``kept``, or None if it may."""
    if client_id <= 0:
        return RejectReason.INVALID_CLIENT_ID
    if not kept or client_id > kept[-1]:
        return None
    at = bisect_left(kept, client_id)
    if kept[at] == client_id:
        return RejectReason.DUPLICATE_CLIENT_ID
    if at == 0 and len(kept) >= KEPT:
        return RejectReason.CLIENT_ID_TOO_LOW
    return None


def remember(kept: list[int], client_id: int) -> None:
    """Keep ``client_id``, an id ``client_id_problem`` allowed, dropping the smallest past ``KEPT``."""
    if not kept or client_id > kept[-1]:
        kept.append(client_id)
    else:
        insort(kept, client_id)
    if len(kept) > KEPT:
        del kept[0]
