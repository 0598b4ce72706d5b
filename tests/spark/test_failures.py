"""The one line a failed Spark job prints, picked out of Spark's failure text."""

from __future__ import annotations

from spark.failures import failure_line

#: the shape of a StreamingQueryException's text (abridged from a real one)
STREAM_FAILED = """[STREAM_FAILED] Query [id = 1, runId = 2] terminated with exception: \
[PYTHON_STREAMING_DATA_SOURCE_RUNTIME_ERROR] Failed when Python streaming data source perform \
latestOffset: Traceback (most recent call last):
  File "/x/pyspark/sql/streaming/python_streaming_source_runner.py", line 267, in main
    latest_offset_func(reader, infile, outfile)
  File "/x/spark/kafka_source.py", line 408, in latestOffset
    data_loss(
spark.kafka_source.DataLossError: stations-json-3: the query is at offset 98, but the log now \
ends at 12 (offsets went backwards) on 127.0.0.1:9092: records ... Set the option \
failOnDataLoss to false to skip them and go on.
 SQLSTATE: 38000 SQLSTATE: XXKST
=== Streaming Query ===
Identifier: [id = 1, runId = 2]
"""

TASK_FAILED = """An error occurred while calling o54.awaitTermination.
: org.apache.spark.SparkException: Job aborted due to stage failure: Task 0 in stage 3.0 \
failed 1 times, most recent failure: Lost task 0.0 (TID 3): \
org.apache.spark.api.python.PythonException: Traceback (most recent call last):
  File "/x/spark/kafka_source.py", line 590, in read_range
    raise TimeoutError(
TimeoutError: stations-json-0: no record past offset 5 from 127.0.0.1:9 in 60000 ms
\tat org.apache.spark.api.python.BasePythonRunner.handlePythonException(PythonRunner.scala:1)
"""


def test_the_line_is_the_first_python_exception_not_sparks_own() -> None:
    assert failure_line(STREAM_FAILED) == (
        "stations-json-3: the query is at offset 98, but the log now ends at 12 (offsets went "
        "backwards) on 127.0.0.1:9092: records ... Set the option failOnDataLoss to false to "
        "skip them and go on."
    )
    assert failure_line(TASK_FAILED) == (
        "stations-json-0: no record past offset 5 from 127.0.0.1:9 in 60000 ms"
    )


def test_a_failure_without_a_python_exception_is_its_first_line() -> None:
    text = "[TABLE_OR_VIEW_NOT_FOUND] The table `x` cannot be found. SQLSTATE: 42P01\nmore"
    assert failure_line(text) == "[TABLE_OR_VIEW_NOT_FOUND] The table `x` cannot be found."
    assert failure_line("") == "the Spark job failed"
