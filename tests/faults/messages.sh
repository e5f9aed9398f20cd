# messages.sh - sourced by the fault scripts: write_messages FILE writes the
# sample events (config/sample/events.jsonl, bad ones among them) and then
# each bad message of the fuzz corpus (tests/fuzz/corpus/event) on a line of
# its own, as Kafka would hand them over. Needs $root, the repository.
write_messages() {
    cp "$root/config/sample/events.jsonl" "$1"
    for f in "$root"/tests/fuzz/corpus/event/*; do
        tr '\n' ' ' <"$f" >>"$1"
        echo >>"$1"
    done
}
