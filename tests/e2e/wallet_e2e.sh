#!/usr/bin/env bash
# End to end: the `ipsx wallet` commands driven as a user would, checked against an independent
# implementation (foundry's cast): keystores open both ways, signatures agree byte for byte,
# and bad input gives a clear error and a non-zero exit.
# usage: wallet_e2e.sh IPSX CAST
set -uo pipefail
IPSX=$1
CAST=$2
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=lib.sh
source "$here/lib.sh"

echo "correct horse" >"$work/pw"
echo "wrong" >"$work/wrong"
ks=$work/keys

# 1. Our keystores open in cast, with both KDFs.
a1=$("$IPSX" wallet new --keystore "$ks" --password-file "$work/pw" --light 2>/dev/null)
a2=$("$IPSX" wallet new --keystore "$ks" --password-file "$work/pw" --kdf pbkdf2 2>/dev/null)
for a in "$a1" "$a2"; do
  f=$(ls "$ks" | grep -i "${a:2}")
  key=$("$CAST" wallet decrypt-keystore -k "$ks" "$f" --unsafe-password "correct horse" | awk '{print $NF}')
  expect_eq "cast opens our keystore of $a" "$("$CAST" wallet address --private-key "$key")" "$a"
done
expect_eq "wallet list shows both" "$("$IPSX" wallet list --keystore "$ks" | awk '{print $1}' | sort | tr '\n' ' ')" \
  "$(printf '%s\n' "$a1" "$a2" | sort | tr '\n' ' ')"

# 2. Cast's keystore opens here; signatures agree byte for byte (RFC 6979 makes them deterministic).
mkdir -p "$work/castks"
"$CAST" wallet new "$work/castks" --unsafe-password "correct horse" >/dev/null
cf=$work/castks/$(ls "$work/castks")
ca=$("$CAST" wallet address --keystore "$cf" --password "correct horse")
for msg in "hello" "" "déjà vu" "line1
line2"; do
  ours=$("$IPSX" wallet sign-message --keystore "$cf" --password-file "$work/pw" -- "$msg")
  theirs=$("$CAST" wallet sign --keystore "$cf" --password "correct horse" -- "$msg")
  expect_eq "personal_sign of $(printf %q "${msg:0:8}") agrees with cast" "$ours" "$theirs"
  expect_eq "recover gives the signer" "$("$IPSX" wallet recover --message "$msg" --signature "$ours")" "$ca"
done
ours=$("$IPSX" wallet sign-message --keystore "$cf" --password-file "$work/pw" --hex 0x00ff10)
theirs=$("$CAST" wallet sign --keystore "$cf" --password "correct horse" 0x00ff10)
expect_eq "personal_sign of raw bytes agrees with cast" "$ours" "$theirs"

# 3. Typed data: the specification's example and random documents, against cast.
node "$here/gen_typed_data.js" "$work/docs" 25 "${IPSX_E2E_SEED:-20261125}"
for doc in "$here/../../src/crypto/testdata/mail.json" "$here/../../src/crypto/testdata/complex.json" "$work"/docs/*.json; do
  ours=$("$IPSX" wallet sign-typed-data --keystore "$cf" --password-file "$work/pw" "$doc" 2>&1)
  theirs=$("$CAST" wallet sign --keystore "$cf" --password "correct horse" --data --from-file "$doc" 2>&1)
  expect_eq "eth_signTypedData_v4 of $(basename "$doc") agrees with cast" "$ours" "$theirs"
done
sig=$("$IPSX" wallet sign-typed-data --keystore "$ks" --address "$a1" --password-file "$work/pw" "$work/docs/doc0.json")
expect_eq "recover typed data" "$("$IPSX" wallet recover --typed-data "$work/docs/doc0.json" --signature "$sig")" "$a1"

# 4. Bad input: a clear error, a non-zero exit.
expect_error "wrong password" "wrong password" \
  "$IPSX" wallet sign-message --keystore "$ks" --address "$a1" --password-file "$work/wrong" hi
expect_error "bad checksum" "checksum" \
  "$IPSX" wallet sign-message --keystore "$ks" --address "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAeD" --password-file "$work/pw" hi
expect_error "unknown account" "no keystore for" \
  "$IPSX" wallet sign-message --keystore "$ks" --address "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed" --password-file "$work/pw" hi
echo '{"version": 3}' >"$work/notks.json"
expect_error "not a keystore" "not a valid keystore" \
  "$IPSX" wallet sign-message --keystore "$work/notks.json" --password-file "$work/pw" hi
head -c 100 "$cf" >"$work/truncated.json"
expect_error "truncated keystore" "not JSON" \
  "$IPSX" wallet sign-message --keystore "$work/truncated.json" --password-file "$work/pw" hi
sed 's/"type":"string"/"type":"strng"/; s/"type": "string"/"type": "strng"/' \
  "$here/../../src/crypto/testdata/mail.json" >"$work/badtype.json"
expect_error "unknown type name" "unknown type 'strng'" \
  "$IPSX" wallet sign-typed-data --keystore "$cf" --password-file "$work/pw" "$work/badtype.json"
expect_error "malformed signature" "65 bytes|odd|expected" "$IPSX" wallet recover --message hi --signature 0x1234
expect_error "missing arguments" "required" "$IPSX" wallet recover --message hi
expect_error "no password file and no terminal to ask on" "no password: give --password-file" \
  "$IPSX" wallet new </dev/null

# 5. Accounts by name in the default keystore directory (XDG_DATA_HOME/ipsx/keystore: lib.sh puts
# it in the scratch directory), the password from the environment or asked on a terminal.
alice=$("$IPSX" wallet new --name alice --password-file "$work/pw" --light 2>/dev/null)
expect_eq "wallet new --name writes the file 'alice' in the default directory" \
  "$(ls "$XDG_DATA_HOME/ipsx/keystore")" alice
expect_eq "the default directory is its owner's only" "$(stat -c %a "$XDG_DATA_HOME/ipsx/keystore")" 700
expect_out "wallet list names it" "^$alice  alice  /" "$IPSX" wallet list
sig=$("$IPSX" wallet sign-message --account alice --password-file "$work/pw" hi)
expect_eq "--account alice signs as alice" "$("$IPSX" wallet recover --message hi --signature "$sig")" "$alice"
expect_eq "IPSX_PASSWORD_FILE serves a local command" \
  "$(IPSX_PASSWORD_FILE=$work/pw "$IPSX" wallet sign-message --account alice hi)" "$sig"
expect_eq "IPSX_KEYSTORE names another directory" \
  "$(IPSX_KEYSTORE=$ks IPSX_PASSWORD_FILE=$work/pw "$IPSX" wallet sign-message --address "$a1" hi |
    xargs "$IPSX" wallet recover --message hi --signature)" "$a1"
expect_error "a second alice" "named 'alice' is in .* already" \
  "$IPSX" wallet new --name alice --password-file "$work/pw" --light
expect_error "a name that is a path" "letters, digits" "$IPSX" wallet new --name ../x --password-file "$work/pw"
expect_error "an unknown name" "no account named 'bob'" \
  "$IPSX" wallet sign-message --account bob --password-file "$work/pw" hi
expect_error "an account that is neither" "neither an address nor a name" \
  "$IPSX" wallet sign-message --account 'a b' --password-file "$work/pw" hi
out=$("$here/tty_run.py" "correct horse" -- "$IPSX" wallet sign-message --account alice hi)
expect_out "on a terminal the password is asked for" "Password for alice: .*$sig" echo $out
expect_eq "and not echoed" "$(grep -c 'correct horse' <<<"$out")" 0
out=$("$here/tty_run.py" "battery staple" -- "$IPSX" wallet new --name bob --light)
bob=$(grep -oE '0x[0-9a-fA-F]{40}' <<<"$out")
expect_out "wallet new on a terminal asks twice" "Password for bob: .*Again, to confirm: .*0x" echo $out
echo "battery staple" >"$work/bobpw"
expect_eq "and the account opens with that password" \
  "$("$IPSX" wallet sign-message --account bob --password-file "$work/bobpw" hi | xargs "$IPSX" wallet recover --message hi --signature)" "$bob"
for c in "" wallet "wallet new" "wallet list" "wallet sign-message" "wallet sign-typed-data" \
  "wallet hash-typed-data" "wallet recover"; do
  # shellcheck disable=SC2086
  if "$IPSX" $c --help | grep -q Usage; then ok "ipsx $c --help"; else bad "ipsx $c --help"; fi
done

finish
