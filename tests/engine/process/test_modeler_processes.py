"""Realistic processes as the Camunda Modeler writes them (``resources/``): an order process
with a gateway, an embedded subprocess with a parallel fork, a boundary error event, a user
task and a call activity into a shipping process with a multi-instance task."""

from __future__ import annotations

import json
from pathlib import Path

from .driver import Driver

RESOURCES = Path(__file__).parent / "resources"
ORDER = {
    "total": 42.5,
    "items": ["book", "pen"],
    "parcels": ["p1", "p2"],
    "owner": "ann",
}


def deployed() -> Driver:
    d = Driver()
    response = d.deploy(
        ("order-process.bpmn", (RESOURCES / "order-process.bpmn").read_bytes()),
        ("shipping.bpmn", (RESOURCES / "shipping.bpmn").read_bytes()),
    )
    assert [p.process.bpmnProcessId for p in response.deployments] == ["order-process", "shipping"]
    return d


def test_an_order_in_stock_is_charged_packed_and_shipped() -> None:
    d = deployed()
    pi = d.create("order-process", {"order": ORDER})
    check = d.job("check-stock")
    assert json.loads(check.customHeaders) == {"warehouse": "north"}
    assert check.retries == 5
    assert json.loads(check.variables)["items"] == ["book", "pen"]  # an input mapping local
    d.complete(check.key, {"available": True})
    charge = d.job("charge-payment")
    assert json.loads(charge.variables)["amount"] == 42.5
    d.complete(charge.key, {"transactionId": "tx-1"})
    d.complete_type("pack-goods")
    parcels = d.activate("ship-parcel")
    assert sorted(json.loads(p.variables)["parcel"] for p in parcels) == ["p1", "p2"]
    for parcel in parcels:
        name = json.loads(parcel.variables)["parcel"]
        d.complete(parcel.key, {"tracking": f"T-{name}"})
    assert d.completed("OrderShipped") and d.is_done(pi)
    result = d.completed_variables(pi)
    assert result["tracking"] == ["T-p1", "T-p2"]
    assert result["payment"] == {"transactionId": "tx-1"}
    assert result["inStock"] is True and result["total"] == 42.5
    assert "available" not in result and "transactionId" not in result


def test_an_order_out_of_stock_notifies_the_customer() -> None:
    d = deployed()
    pi = d.create("order-process", {"order": ORDER})
    d.complete_type("check-stock", {"available": False})
    d.complete_type("notify-customer")
    assert d.completed("OrderRejected") and d.is_done(pi)
    assert not d.activated("FulfilOrder")


def test_a_failed_payment_interrupts_fulfilment_and_asks_a_person() -> None:
    d = deployed()
    pi = d.create("order-process", {"order": ORDER})
    d.complete_type("check-stock", {"available": True})
    pack = d.job("pack-goods")
    charge = d.job("charge-payment")
    d.throw(charge.key, "PAYMENT_FAILED", "card declined", reason="card declined")
    path = d.path(pi)
    assert ("PackGoods", "ELEMENT_TERMINATED") in path and (
        "FulfilOrder",
        "ELEMENT_TERMINATED",
    ) in path
    assert pack.key not in d.engine.jobs()  # the other branch's job was canceled
    review = d.job("io.camunda.zeebe:userTask")
    assert json.loads(review.customHeaders) == {
        "io.camunda.zeebe:formKey": "camunda-forms:bpmn:PaymentIssueForm",
        "io.camunda.zeebe:assignee": "ann",
        "io.camunda.zeebe:candidateGroups": '["billing"]',
    }
    assert json.loads(review.variables)["failureReason"] == "card declined"
    d.complete(review.key)
    assert d.completed("OrderCancelled") and d.is_done(pi)
