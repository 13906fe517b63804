#!/bin/sh
# test_valija_keys.sh VALIJA_KEYS - runs the built valija-keys through its
# verbs as an operator would (generate -> card -> verify -> fingerprint, and
# pipes), and checks the exit codes scripts depend on: 64 usage, 65 bad data,
# 66 no input, 73 cannot create, 77 unsafe key mode, 1 a card that does not
# verify.  Works in a private temporary directory, removed at the end.
set -u
VK=${1:?usage: test_valija_keys.sh PATH-TO-valija-keys}
T=$(mktemp -d "${TMPDIR:-/tmp}/vj-keys-XXXXXX") || exit 1
trap 'rm -rf "$T"' EXIT
fails=0
n=0

# expect CODE DESCRIPTION -- COMMAND...: run, compare the exit code
expect() {
    want=$1; what=$2; shift 3
    n=$((n + 1))
    "$@" >"$T/out" 2>"$T/err"
    got=$?
    if [ "$got" -ne "$want" ]; then
        echo "not ok $n - $what: exit $got, want $want"; sed 's/^/#   /' "$T/err"
        fails=$((fails + 1))
    else
        echo "ok $n - $what"
    fi
}
# check DESCRIPTION -- COMMAND...: a shell condition
check() {
    what=$1; shift 2
    n=$((n + 1))
    if "$@"; then echo "ok $n - $what"; else echo "not ok $n - $what"; fails=$((fails + 1)); fi
}

expect 0 "--help" -- "$VK" --help
check "--help lists the verbs" -- grep -q "fingerprint" "$T/out"
expect 0 "--version" -- "$VK" --version
check "--version names the tool" -- grep -q "^valija-keys " "$T/out"
expect 64 "no verb" -- "$VK"
expect 64 "unknown verb" -- "$VK" frobnicate
for v in generate card fingerprint verify; do
    expect 0 "$v --help" -- "$VK" $v --help
    check "$v --help prints its usage" -- grep -q "usage: valija-keys $v" "$T/out"
done
expect 64 "generate without -o" -- "$VK" generate mx-test
expect 64 "generate with a bad name" -- "$VK" generate "MX Test" -o "$T/x.key"
check "no file for a bad name" -- test ! -e "$T/x.key"
expect 64 "generate to stdout refused" -- "$VK" generate mx-test -o -
expect 64 "generate with an unknown option" -- "$VK" generate mx-test -o "$T/a.key" --bogus
expect 64 "card without a file" -- "$VK" card
expect 64 "verify with two files" -- "$VK" verify a b

expect 0 "generate" -- "$VK" generate mx-test -o "$T/mx.key"
check "the key file is mode 0600" -- test "$(stat -c %a "$T/mx.key")" = 600
check "generate reports the fingerprint" -- grep -q "fingerprint of mx-test: [A-Z2-7]\{4\}\( [A-Z2-7]\{4\}\)\{7\}$" "$T/err"
gen_fp=$(sed -n 's/.*fingerprint of mx-test: //p' "$T/err")
cp "$T/mx.key" "$T/mx.key.orig"
expect 73 "generate refuses to overwrite" -- "$VK" generate mx-test -o "$T/mx.key"
check "the existing key is untouched" -- cmp -s "$T/mx.key" "$T/mx.key.orig"
expect 0 "generate -f replaces" -- "$VK" generate mx-test -o "$T/mx.key" -f
check "the key was replaced" -- sh -c "! cmp -s '$T/mx.key' '$T/mx.key.orig'"
expect 73 "generate into a missing directory" -- "$VK" generate mx-test -o "$T/nodir/mx.key"
cp "$T/mx.key.orig" "$T/mx.key"; chmod 600 "$T/mx.key"

expect 0 "card" -- "$VK" card "$T/mx.key"
cp "$T/out" "$T/mx.card"
check "card starts with its comment" -- grep -q "^# valija public card of post mx-test$" "$T/mx.card"
check "card has the post" -- grep -q "^post: mx-test$" "$T/mx.card"
expect 0 "card -o" -- "$VK" card "$T/mx.key" -o "$T/mx2.card"
check "card -o writes the same card" -- cmp -s "$T/mx.card" "$T/mx2.card"
expect 73 "card -o into a missing directory" -- "$VK" card "$T/mx.key" -o "$T/nodir/c"
check "no secret in the card" -- sh -c "! grep -q \"\$(sed -n 's/^sign-seed: //p' '$T/mx.key')\" '$T/mx.card'"

expect 0 "verify" -- "$VK" verify "$T/mx.card"
check "verify says OK with post and fingerprint" -- grep -q "^OK: card of mx-test, fingerprint $gen_fp$" "$T/out"
expect 0 "fingerprint" -- "$VK" fingerprint "$T/mx.card"
check "fingerprint matches generate's" -- test "$(cat "$T/out")" = "$gen_fp"
check "the card comment shows the same fingerprint" -- grep -q "^# fingerprint: $gen_fp$" "$T/mx.card"

n=$((n + 1))
if "$VK" card "$T/mx.key" | "$VK" verify - >"$T/out" 2>&1 && grep -q "^OK: card of mx-test" "$T/out"; then
    echo "ok $n - card | verify -"
else
    echo "not ok $n - card | verify -"; fails=$((fails + 1))
fi
expect 0 "card - reads a key from stdin" -- sh -c "'$VK' card - < '$T/mx.key' > '$T/stdin.card'"
check "the same card from stdin" -- cmp -s "$T/mx.card" "$T/stdin.card"
expect 0 "fingerprint - reads stdin" -- sh -c "'$VK' fingerprint - < '$T/mx.card'"

# a tampered card: change one character of the signature
awk '/^signature: /{ s=$2; c=substr(s,2,1); r=(c=="A")?"B":"A"; $0="signature: " substr(s,1,1) r substr(s,3) } {print}' "$T/mx.card" >"$T/bad.card"
expect 1 "verify a tampered card" -- "$VK" verify "$T/bad.card"
check "verify says FAILED" -- grep -q "^FAILED: " "$T/out"
expect 1 "fingerprint of a tampered card" -- "$VK" fingerprint "$T/bad.card"
printf 'valija-card: 1\npost: mx-test\nsign: nope\n' >"$T/junk.card"
expect 65 "verify a malformed card" -- "$VK" verify "$T/junk.card"
check "the error names the file and line" -- grep -q "junk.card: line 3" "$T/err"
expect 66 "verify a missing card" -- "$VK" verify "$T/none.card"
expect 65 "a secret key is not a card" -- "$VK" verify "$T/mx.key"

chmod 644 "$T/mx.key"
expect 77 "card refuses a key readable by others" -- "$VK" card "$T/mx.key"
check "the error says what to do" -- grep -q "chmod 600" "$T/err"
chmod 640 "$T/mx.key"
expect 77 "card refuses a key readable by the group" -- "$VK" card "$T/mx.key"
chmod 600 "$T/mx.key"
ln -s "$T/mx.key" "$T/link.key"
expect 77 "card refuses a symlinked key" -- "$VK" card "$T/link.key"
head -c 150 "$T/mx.key" >"$T/cut.key"; chmod 600 "$T/cut.key"
expect 65 "card refuses a truncated key" -- "$VK" card "$T/cut.key"
expect 66 "card of a missing key" -- "$VK" card "$T/none.key"

echo "1..$n"
[ "$fails" -eq 0 ]
