;; XXH64 and XXH32 (github.com/Cyan4973/xxHash, the reference algorithm), with batch entry points
;; that hash many ranges of one buffer per call. Source of xxhash.wasm beside it, compiled by
;; scripts/hash-wasm.mjs (wabt's wat2wasm); see src/engine/hash.ts for why we have our own module.
;;
;; Memory is the caller's: it writes bytes and range tables into `memory` and reads hashes back
;; as u32 pairs (little-endian: low word first), so no BigInt crosses the boundary in a batch.
(module
  (memory (export "memory") 1)

  ;; XXH64's round: acc = rotl(acc + input * PRIME64_2, 31) * PRIME64_1. Written out in the hot
  ;; loops below (engines need not inline calls).
  (func $round64 (param $acc i64) (param $input i64) (result i64)
    (i64.mul
      (i64.rotl
        (i64.add (local.get $acc) (i64.mul (local.get $input) (i64.const 0xC2B2AE3D27D4EB4F)))
        (i64.const 31))
      (i64.const 0x9E3779B185EBCA87)))

  (func $merge64 (param $acc i64) (param $val i64) (result i64)
    (i64.add
      (i64.mul
        (i64.xor (local.get $acc) (call $round64 (i64.const 0) (local.get $val)))
        (i64.const 0x9E3779B185EBCA87))
      (i64.const 0x85EBCA77C2B2AE63)))

  ;; XXH64 of [p, p + len) with `seed`.
  (func $xxh64 (export "xxh64") (param $p i32) (param $len i32) (param $seed i64) (result i64)
    (local $end i32) (local $limit i32)
    (local $v1 i64) (local $v2 i64) (local $v3 i64) (local $v4 i64) (local $h i64)
    (local.set $end (i32.add (local.get $p) (local.get $len)))
    (if (i32.ge_u (local.get $len) (i32.const 32))
      (then
        (local.set $limit (i32.sub (local.get $end) (i32.const 32)))
        (local.set $v1 (i64.add (local.get $seed) (i64.const 0x60EA27EEADC0B5D6))) ;; PRIME64_1 + PRIME64_2
        (local.set $v2 (i64.add (local.get $seed) (i64.const 0xC2B2AE3D27D4EB4F)))
        (local.set $v3 (local.get $seed))
        (local.set $v4 (i64.sub (local.get $seed) (i64.const 0x9E3779B185EBCA87)))
        (loop $stripes
          (local.set $v1 (i64.mul
            (i64.rotl (i64.add (local.get $v1) (i64.mul (i64.load (local.get $p)) (i64.const 0xC2B2AE3D27D4EB4F))) (i64.const 31))
            (i64.const 0x9E3779B185EBCA87)))
          (local.set $v2 (i64.mul
            (i64.rotl (i64.add (local.get $v2) (i64.mul (i64.load offset=8 (local.get $p)) (i64.const 0xC2B2AE3D27D4EB4F))) (i64.const 31))
            (i64.const 0x9E3779B185EBCA87)))
          (local.set $v3 (i64.mul
            (i64.rotl (i64.add (local.get $v3) (i64.mul (i64.load offset=16 (local.get $p)) (i64.const 0xC2B2AE3D27D4EB4F))) (i64.const 31))
            (i64.const 0x9E3779B185EBCA87)))
          (local.set $v4 (i64.mul
            (i64.rotl (i64.add (local.get $v4) (i64.mul (i64.load offset=24 (local.get $p)) (i64.const 0xC2B2AE3D27D4EB4F))) (i64.const 31))
            (i64.const 0x9E3779B185EBCA87)))
          (local.set $p (i32.add (local.get $p) (i32.const 32)))
          (br_if $stripes (i32.le_u (local.get $p) (local.get $limit))))
        (local.set $h
          (i64.add
            (i64.add (i64.rotl (local.get $v1) (i64.const 1)) (i64.rotl (local.get $v2) (i64.const 7)))
            (i64.add (i64.rotl (local.get $v3) (i64.const 12)) (i64.rotl (local.get $v4) (i64.const 18)))))
        (local.set $h (call $merge64 (local.get $h) (local.get $v1)))
        (local.set $h (call $merge64 (local.get $h) (local.get $v2)))
        (local.set $h (call $merge64 (local.get $h) (local.get $v3)))
        (local.set $h (call $merge64 (local.get $h) (local.get $v4))))
      (else
        (local.set $h (i64.add (local.get $seed) (i64.const 0x27D4EB2F165667C5)))))
    (local.set $h (i64.add (local.get $h) (i64.extend_i32_u (local.get $len))))
    (block $done8
      (loop $lanes8
        (br_if $done8 (i32.gt_u (i32.add (local.get $p) (i32.const 8)) (local.get $end)))
        (local.set $h
          (i64.add
            (i64.mul
              (i64.rotl
                (i64.xor (local.get $h)
                  (i64.mul
                    (i64.rotl (i64.mul (i64.load (local.get $p)) (i64.const 0xC2B2AE3D27D4EB4F)) (i64.const 31))
                    (i64.const 0x9E3779B185EBCA87)))
                (i64.const 27))
              (i64.const 0x9E3779B185EBCA87))
            (i64.const 0x85EBCA77C2B2AE63)))
        (local.set $p (i32.add (local.get $p) (i32.const 8)))
        (br $lanes8)))
    (if (i32.le_u (i32.add (local.get $p) (i32.const 4)) (local.get $end))
      (then
        (local.set $h
          (i64.add
            (i64.mul
              (i64.rotl
                (i64.xor (local.get $h) (i64.mul (i64.load32_u (local.get $p)) (i64.const 0x9E3779B185EBCA87)))
                (i64.const 23))
              (i64.const 0xC2B2AE3D27D4EB4F))
            (i64.const 0x165667B19E3779F9)))
        (local.set $p (i32.add (local.get $p) (i32.const 4)))))
    (block $done1
      (loop $bytes
        (br_if $done1 (i32.ge_u (local.get $p) (local.get $end)))
        (local.set $h
          (i64.mul
            (i64.rotl
              (i64.xor (local.get $h) (i64.mul (i64.load8_u (local.get $p)) (i64.const 0x27D4EB2F165667C5)))
              (i64.const 11))
            (i64.const 0x9E3779B185EBCA87)))
        (local.set $p (i32.add (local.get $p) (i32.const 1)))
        (br $bytes)))
    ;; Avalanche.
    (local.set $h (i64.mul (i64.xor (local.get $h) (i64.shr_u (local.get $h) (i64.const 33))) (i64.const 0xC2B2AE3D27D4EB4F)))
    (local.set $h (i64.mul (i64.xor (local.get $h) (i64.shr_u (local.get $h) (i64.const 29))) (i64.const 0x165667B19E3779F9)))
    (i64.xor (local.get $h) (i64.shr_u (local.get $h) (i64.const 32))))

  ;; XXH64 with `seed` of `count` ranges [base + from[i], base + to[i]) (i32 tables at `from` and
  ;; `to`), written as u64 at out + 8i.
  (func (export "xxh64Ranges")
    (param $base i32) (param $from i32) (param $to i32) (param $count i32) (param $seed i64) (param $out i32)
    (local $start i32) (local $end i32)
    (block $done
      (loop $next
        (br_if $done (i32.eqz (local.get $count)))
        (local.set $start (i32.add (local.get $base) (i32.load (local.get $from))))
        (local.set $end (i32.add (local.get $base) (i32.load (local.get $to))))
        (i64.store (local.get $out)
          (call $xxh64 (local.get $start) (i32.sub (local.get $end) (local.get $start)) (local.get $seed)))
        (local.set $from (i32.add (local.get $from) (i32.const 4)))
        (local.set $to (i32.add (local.get $to) (i32.const 4)))
        (local.set $out (i32.add (local.get $out) (i32.const 8)))
        (local.set $count (i32.sub (local.get $count) (i32.const 1)))
        (br $next))))

  ;; XXH32's round: acc = rotl(acc + input * PRIME32_2, 13) * PRIME32_1.
  (func $round32 (param $acc i32) (param $input i32) (result i32)
    (i32.mul
      (i32.rotl
        (i32.add (local.get $acc) (i32.mul (local.get $input) (i32.const 0x85EBCA77)))
        (i32.const 13))
      (i32.const 0x9E3779B1)))

  ;; XXH32 of [p, p + len) with `seed`.
  (func $xxh32 (export "xxh32") (param $p i32) (param $len i32) (param $seed i32) (result i32)
    (local $end i32) (local $limit i32)
    (local $v1 i32) (local $v2 i32) (local $v3 i32) (local $v4 i32) (local $h i32)
    (local.set $end (i32.add (local.get $p) (local.get $len)))
    (if (i32.ge_u (local.get $len) (i32.const 16))
      (then
        (local.set $limit (i32.sub (local.get $end) (i32.const 16)))
        (local.set $v1 (i32.add (local.get $seed) (i32.const 0x24234428))) ;; PRIME32_1 + PRIME32_2
        (local.set $v2 (i32.add (local.get $seed) (i32.const 0x85EBCA77)))
        (local.set $v3 (local.get $seed))
        (local.set $v4 (i32.sub (local.get $seed) (i32.const 0x9E3779B1)))
        (loop $stripes
          (local.set $v1 (call $round32 (local.get $v1) (i32.load (local.get $p))))
          (local.set $v2 (call $round32 (local.get $v2) (i32.load offset=4 (local.get $p))))
          (local.set $v3 (call $round32 (local.get $v3) (i32.load offset=8 (local.get $p))))
          (local.set $v4 (call $round32 (local.get $v4) (i32.load offset=12 (local.get $p))))
          (local.set $p (i32.add (local.get $p) (i32.const 16)))
          (br_if $stripes (i32.le_u (local.get $p) (local.get $limit))))
        (local.set $h
          (i32.add
            (i32.add (i32.rotl (local.get $v1) (i32.const 1)) (i32.rotl (local.get $v2) (i32.const 7)))
            (i32.add (i32.rotl (local.get $v3) (i32.const 12)) (i32.rotl (local.get $v4) (i32.const 18))))))
      (else
        (local.set $h (i32.add (local.get $seed) (i32.const 0x165667B1)))))
    (local.set $h (i32.add (local.get $h) (local.get $len)))
    (block $done4
      (loop $lanes4
        (br_if $done4 (i32.gt_u (i32.add (local.get $p) (i32.const 4)) (local.get $end)))
        (local.set $h
          (i32.mul
            (i32.rotl
              (i32.add (local.get $h) (i32.mul (i32.load (local.get $p)) (i32.const 0xC2B2AE3D)))
              (i32.const 17))
            (i32.const 0x27D4EB2F)))
        (local.set $p (i32.add (local.get $p) (i32.const 4)))
        (br $lanes4)))
    (block $done1
      (loop $bytes
        (br_if $done1 (i32.ge_u (local.get $p) (local.get $end)))
        (local.set $h
          (i32.mul
            (i32.rotl
              (i32.add (local.get $h) (i32.mul (i32.load8_u (local.get $p)) (i32.const 0x165667B1)))
              (i32.const 11))
            (i32.const 0x9E3779B1)))
        (local.set $p (i32.add (local.get $p) (i32.const 1)))
        (br $bytes)))
    (local.set $h (i32.mul (i32.xor (local.get $h) (i32.shr_u (local.get $h) (i32.const 15))) (i32.const 0x85EBCA77)))
    (local.set $h (i32.mul (i32.xor (local.get $h) (i32.shr_u (local.get $h) (i32.const 13))) (i32.const 0xC2B2AE3D)))
    (i32.xor (local.get $h) (i32.shr_u (local.get $h) (i32.const 16))))

  ;; XXH32 with `seed` of each tab-separated field of [p, p + len) (COPY text: a raw tab only
  ;; separates values), the first `count` written as u32 at out + 4k. Returns the number of fields.
  (func (export "xxh32Fields") (param $p i32) (param $len i32) (param $count i32) (param $seed i32) (param $out i32) (result i32)
    (local $i i32) (local $end i32) (local $start i32) (local $k i32)
    (local.set $i (local.get $p))
    (local.set $start (local.get $p))
    (local.set $end (i32.add (local.get $p) (local.get $len)))
    (loop $scan
      (if (i32.or
            (i32.eq (local.get $i) (local.get $end))
            (i32.eq (i32.load8_u (local.get $i)) (i32.const 9)))
        (then
          (if (i32.lt_u (local.get $k) (local.get $count))
            (then
              (i32.store
                (i32.add (local.get $out) (i32.shl (local.get $k) (i32.const 2)))
                (call $xxh32 (local.get $start) (i32.sub (local.get $i) (local.get $start)) (local.get $seed)))))
          (local.set $k (i32.add (local.get $k) (i32.const 1)))
          (local.set $start (i32.add (local.get $i) (i32.const 1)))))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br_if $scan (i32.le_u (local.get $i) (local.get $end))))
    (local.get $k))
)
