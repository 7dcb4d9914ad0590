"""Messages and signals as the engine sees them: one object that wires the message buffer
(message partition side), the message catch events (instance partition side), signals and the
links between partitions, and gives the engine its entry points -- the PublishMessage and
BroadcastSignal commands, the inter-partition commands that arrive, acknowledgements, the
follow-up steps for this same partition, time (message TTLs)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .... import codec
from ....keys import partition_of
from ....proto import gateway_pb2 as gw
from ..ports import EventSubscriptions
from ..values import Step
from .buffer import MessageBuffer
from .links import Envelope, Links
from .signals import Signals
from .triggers import Triggers
from .waiting import MessageCatch
from .wire import (
    CloseSubscription,
    Correlate,
    Correlated,
    OpenSubscription,
    Rejected,
    SignalBroadcast,
)

if TYPE_CHECKING:
    from ..machine import Machine

__all__ = ["Messaging"]


class Messaging:
    def __init__(self, machine: Machine) -> None:
        self.state = machine.state
        self.links = Links(machine.state)
        self.triggers = Triggers(machine)
        self.buffer = MessageBuffer(machine, self.links)
        self.catch = MessageCatch(machine, self.links, self.triggers.fire)
        self.signals = Signals(machine, self.links, self.triggers.fire)
        self.triggers.closers = (self.catch.close_all, self.signals.close_all)
        #: the kinds of subscriptions it opens and closes (see events.AllSubscriptions)
        self.kinds: tuple[EventSubscriptions[Machine], ...] = (self.catch, self.signals)
        machine.signals = self.signals
        machine.on_inter_partition = self._local
        machine.on_process_left = self.buffer.process_left

    # --- commands ---------------------------------------------------------------------------

    def publish(self, request: gw.PublishMessageRequest) -> gw.PublishMessageResponse:
        return self.buffer.publish(request)

    def broadcast(self, request: gw.BroadcastSignalRequest) -> gw.BroadcastSignalResponse:
        return self.signals.broadcast(request)

    # --- inter-partition --------------------------------------------------------------------

    def receive(self, command: Any) -> bool:
        """Apply an arrived command of this module; False if it is none of its."""
        if not isinstance(command, Envelope):
            return False
        inner = self.links.accept(command)
        if inner is not None:
            self._dispatch(inner, command.source)
        return True

    def _dispatch(self, command: Any, source: int) -> None:
        if isinstance(command, OpenSubscription):
            # offers go to the partition of the element instance: it must be the sender
            if partition_of(command.element_instance_key) != source:
                raise codec.DecodeError(
                    f"a subscription of element instance {command.element_instance_key} "
                    f"opened by partition {source}"
                )
            self.buffer.open(command)
        elif isinstance(command, CloseSubscription):
            self.buffer.close(command)
        elif isinstance(command, Correlate):
            self.catch.correlate(command, source)
        elif isinstance(command, Correlated):
            self.buffer.correlated(command)
        elif isinstance(command, Rejected):
            self.buffer.rejected(command)
        elif isinstance(command, SignalBroadcast):
            self.signals.received(command)
        else:
            raise codec.DecodeError(f"not a messaging command: {type(command).__name__}")

    def _local(self, step: Step) -> None:
        """A command for this partition itself: the same handlers, acknowledged at once."""
        command = Links.local_command(step)
        self._dispatch(command, self.state.partition_id)
        self._acknowledged(command)

    def acknowledged(self, payload: bytes) -> None:
        """A pending send (``payload``, taken out of the outbox) was acknowledged."""
        command = Links.sent_command(payload)
        if command is not None:
            self._acknowledged(command)

    def _acknowledged(self, command: Any) -> None:
        if isinstance(command, OpenSubscription):
            self.catch.opened(command)
        elif isinstance(command, CloseSubscription):
            self.catch.closed(command)

    # --- time -------------------------------------------------------------------------------

    def next_deadline(self) -> int | None:
        return self.buffer.next_deadline()

    def tick(self) -> None:
        self.buffer.expire()
