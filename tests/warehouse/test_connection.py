import subprocess
import sys

import pytest

from webtext import warehouse
from webtext.warehouse import WarehouseBusy

HOLD = ("import duckdb, sys, time; con = duckdb.connect(sys.argv[1]); "
        "print('held', flush=True); time.sleep(60)")


def test_second_process_is_refused_naming_the_holder(tmp_path):
    path = tmp_path / "w.duckdb"
    warehouse.connect(path).close()
    holder = subprocess.Popen([sys.executable, "-c", HOLD, str(path)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(WarehouseBusy) as caught:
            warehouse.connect(path)
        message = str(caught.value)
        assert f"process {holder.pid}" in message
        assert str(path) in message and "busy" in message
        assert "\n" not in message
    finally:
        holder.kill()
        holder.wait()
    warehouse.connect(path).close()  # free again once the holder is gone


def test_transaction_rolls_back_on_error(tmp_path):
    con = warehouse.connect(tmp_path / "w.duckdb")
    with pytest.raises(RuntimeError), warehouse.transaction(con):
        con.execute("INSERT INTO model_aliases VALUES ('m', 'champion', 1)")
        raise RuntimeError("midway")
    assert con.execute("SELECT count(*) FROM model_aliases").fetchone() == (0,)
