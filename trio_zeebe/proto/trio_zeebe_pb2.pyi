from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class CreateJobRequest(_message.Message):
    __slots__ = ("type", "retries", "variables", "customHeaders")
    TYPE_FIELD_NUMBER: _ClassVar[int]
    RETRIES_FIELD_NUMBER: _ClassVar[int]
    VARIABLES_FIELD_NUMBER: _ClassVar[int]
    CUSTOMHEADERS_FIELD_NUMBER: _ClassVar[int]
    type: str
    retries: int
    variables: str
    customHeaders: str
    def __init__(self, type: _Optional[str] = ..., retries: _Optional[int] = ..., variables: _Optional[str] = ..., customHeaders: _Optional[str] = ...) -> None: ...

class CreateJobResponse(_message.Message):
    __slots__ = ("key",)
    KEY_FIELD_NUMBER: _ClassVar[int]
    key: int
    def __init__(self, key: _Optional[int] = ...) -> None: ...

class AppendRecordsRequest(_message.Message):
    __slots__ = ("partitionId", "records")
    PARTITIONID_FIELD_NUMBER: _ClassVar[int]
    RECORDS_FIELD_NUMBER: _ClassVar[int]
    partitionId: int
    records: _containers.RepeatedScalarFieldContainer[bytes]
    def __init__(self, partitionId: _Optional[int] = ..., records: _Optional[_Iterable[bytes]] = ...) -> None: ...

class RecordPosition(_message.Message):
    __slots__ = ("index", "offset")
    INDEX_FIELD_NUMBER: _ClassVar[int]
    OFFSET_FIELD_NUMBER: _ClassVar[int]
    index: int
    offset: int
    def __init__(self, index: _Optional[int] = ..., offset: _Optional[int] = ...) -> None: ...

class AppendRecordsResponse(_message.Message):
    __slots__ = ("partitionId", "positions", "answers")
    PARTITIONID_FIELD_NUMBER: _ClassVar[int]
    POSITIONS_FIELD_NUMBER: _ClassVar[int]
    ANSWERS_FIELD_NUMBER: _ClassVar[int]
    partitionId: int
    positions: _containers.RepeatedCompositeFieldContainer[RecordPosition]
    answers: _containers.RepeatedScalarFieldContainer[bytes]
    def __init__(self, partitionId: _Optional[int] = ..., positions: _Optional[_Iterable[_Union[RecordPosition, _Mapping]]] = ..., answers: _Optional[_Iterable[bytes]] = ...) -> None: ...

class RebalanceRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class LeaderMove(_message.Message):
    __slots__ = ("partitionId", "fromNode", "toNode")
    PARTITIONID_FIELD_NUMBER: _ClassVar[int]
    FROMNODE_FIELD_NUMBER: _ClassVar[int]
    TONODE_FIELD_NUMBER: _ClassVar[int]
    partitionId: int
    fromNode: int
    toNode: int
    def __init__(self, partitionId: _Optional[int] = ..., fromNode: _Optional[int] = ..., toNode: _Optional[int] = ...) -> None: ...

class RebalanceResponse(_message.Message):
    __slots__ = ("moves",)
    MOVES_FIELD_NUMBER: _ClassVar[int]
    moves: _containers.RepeatedCompositeFieldContainer[LeaderMove]
    def __init__(self, moves: _Optional[_Iterable[_Union[LeaderMove, _Mapping]]] = ...) -> None: ...

class ClusterStatusRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ClusterStatusResponse(_message.Message):
    __slots__ = ("clusterSize", "partitionsCount", "replicationFactor", "brokers", "version")
    CLUSTERSIZE_FIELD_NUMBER: _ClassVar[int]
    PARTITIONSCOUNT_FIELD_NUMBER: _ClassVar[int]
    REPLICATIONFACTOR_FIELD_NUMBER: _ClassVar[int]
    BROKERS_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    clusterSize: int
    partitionsCount: int
    replicationFactor: int
    brokers: _containers.RepeatedCompositeFieldContainer[ClusterBroker]
    version: str
    def __init__(self, clusterSize: _Optional[int] = ..., partitionsCount: _Optional[int] = ..., replicationFactor: _Optional[int] = ..., brokers: _Optional[_Iterable[_Union[ClusterBroker, _Mapping]]] = ..., version: _Optional[str] = ...) -> None: ...

class ClusterBroker(_message.Message):
    __slots__ = ("nodeId", "internalAddress", "gatewayAddress", "state", "partitions")
    class State(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
        __slots__ = ()
        ALIVE: _ClassVar[ClusterBroker.State]
        SUSPECT: _ClassVar[ClusterBroker.State]
        DEAD: _ClassVar[ClusterBroker.State]
    ALIVE: ClusterBroker.State
    SUSPECT: ClusterBroker.State
    DEAD: ClusterBroker.State
    NODEID_FIELD_NUMBER: _ClassVar[int]
    INTERNALADDRESS_FIELD_NUMBER: _ClassVar[int]
    GATEWAYADDRESS_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    PARTITIONS_FIELD_NUMBER: _ClassVar[int]
    nodeId: int
    internalAddress: str
    gatewayAddress: str
    state: ClusterBroker.State
    partitions: _containers.RepeatedCompositeFieldContainer[ClusterPartition]
    def __init__(self, nodeId: _Optional[int] = ..., internalAddress: _Optional[str] = ..., gatewayAddress: _Optional[str] = ..., state: _Optional[_Union[ClusterBroker.State, str]] = ..., partitions: _Optional[_Iterable[_Union[ClusterPartition, _Mapping]]] = ...) -> None: ...

class ClusterPartition(_message.Message):
    __slots__ = ("partitionId", "role", "term", "health", "problem")
    class Role(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
        __slots__ = ()
        LEADER: _ClassVar[ClusterPartition.Role]
        FOLLOWER: _ClassVar[ClusterPartition.Role]
        INACTIVE: _ClassVar[ClusterPartition.Role]
    LEADER: ClusterPartition.Role
    FOLLOWER: ClusterPartition.Role
    INACTIVE: ClusterPartition.Role
    class Health(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
        __slots__ = ()
        HEALTHY: _ClassVar[ClusterPartition.Health]
        UNHEALTHY: _ClassVar[ClusterPartition.Health]
        DEAD: _ClassVar[ClusterPartition.Health]
    HEALTHY: ClusterPartition.Health
    UNHEALTHY: ClusterPartition.Health
    DEAD: ClusterPartition.Health
    PARTITIONID_FIELD_NUMBER: _ClassVar[int]
    ROLE_FIELD_NUMBER: _ClassVar[int]
    TERM_FIELD_NUMBER: _ClassVar[int]
    HEALTH_FIELD_NUMBER: _ClassVar[int]
    PROBLEM_FIELD_NUMBER: _ClassVar[int]
    partitionId: int
    role: ClusterPartition.Role
    term: int
    health: ClusterPartition.Health
    problem: str
    def __init__(self, partitionId: _Optional[int] = ..., role: _Optional[_Union[ClusterPartition.Role, str]] = ..., term: _Optional[int] = ..., health: _Optional[_Union[ClusterPartition.Health, str]] = ..., problem: _Optional[str] = ...) -> None: ...
