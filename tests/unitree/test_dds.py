"""Real CycloneDDS on lo: the octet type-identity trap (G1_FACTS.md)."""

import time

from humanoid_teleop.unitree import dds
from humanoid_teleop.unitree.messages import LOWCMD_TOPIC, load


def test_uint8_reader_never_matches_our_byte_writer(domain_id):
    from cyclonedds.pub import DataWriter
    from cyclonedds.sub import DataReader
    from cyclonedds.topic import Topic

    byte, uint8 = load("byte"), load("uint8")
    assert byte.LowCmd_.__idl_typename__ == uint8.LowCmd_.__idl_typename__  # same name...
    # ...separate participants, as separate programs would be.
    _, pw = dds.open_participant(domain_id, "lo")
    _, pb = dds.open_participant(domain_id, "lo")
    _, pu = dds.open_participant(domain_id, "lo")
    writer = DataWriter(pw, Topic(pw, LOWCMD_TOPIC, byte.LowCmd_))
    r_byte = DataReader(pb, Topic(pb, LOWCMD_TOPIC, byte.LowCmd_), qos=dds.keep_last_qos(100))
    r_uint8 = DataReader(pu, Topic(pu, LOWCMD_TOPIC, uint8.LowCmd_), qos=dds.keep_last_qos(100))
    got_byte = got_uint8 = 0
    for _ in range(40):  # 1 s: discovery on lo takes a few tens of ms
        writer.write(byte.LowCmd_(mode_machine=5))
        time.sleep(0.025)
        got_byte += len(r_byte.take(N=100))
        got_uint8 += len(r_uint8.take(N=100))
    assert got_byte >= 30
    assert got_uint8 == 0  # ...but a different type identity: silently nothing
