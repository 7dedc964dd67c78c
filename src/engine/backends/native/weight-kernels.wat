;; The weight-matrix loops of DenseWeights (weights.ts) in WebAssembly, with
;; SIMD where the synapses of a row are contiguous. They must give the same
;; bits as the JavaScript loops in weights.ts (test/engine-wasm-kernels.test.ts
;; checks it): the same operations in the same order, no fused multiply-add,
;; and bounds applied with compare and select, never f64.min/max, which treat
;; -0 and +0 and NaN differently from the JavaScript ternaries (f64x2.pmax
;; and pmin are those ternaries exactly: pmax(x, lo) is x < lo ? lo : x).
;;
;; Each connection instantiates this module over its own memory (layout in
;; wasm-weights.ts). Addresses are byte offsets; the memory is at most 2 GiB,
;; so no offset computed here wraps. Doubles come in the first bytes of the
;; memory, set by the caller: a double argument from JavaScript would be a
;; boxed number, an allocation.
;;   0 scale   8 factor   16 w_min   24 w_max   32 1 / next scale
;;   40.. the rules' scalars (see scaleInto and decayAddList)
;;   104 the lazy columns' p_plus decay (see flushRows)   112 an i32, 1 while
;;   every stored weight is within [w_min, w_max] (see $keepLevel)   120 where $readAhead
;;   leaves what it read ahead (so that the reads are not dropped)
(module
  (import "env" "memory" (memory 1))

  ;; out[j] += stored[r][j] * scale for each row r listed at $idx (i32, $count
  ;; of them). Four rows at a time, each out[j] loaded and stored once per
  ;; four rows; the additions into out[j] stay in list order, so the sums are
  ;; those of one row at a time.
  (func (export "deliver")
    (param $stored i32) (param $cols i32) (param $idx i32) (param $count i32) (param $out i32)
    (local $scale f64) (local $s v128) (local $rowBytes i32) (local $pairEnd i32)
    (local $k i32) (local $jb i32) (local $r0 i32) (local $r1 i32) (local $r2 i32) (local $r3 i32)
    (local $o v128) (local $x f64)
    (local.set $scale (f64.load (i32.const 0)))
    (local.set $s (f64x2.splat (local.get $scale)))
    (local.set $rowBytes (i32.shl (local.get $cols) (i32.const 3)))
    (local.set $pairEnd (i32.shl (i32.and (local.get $cols) (i32.const -2)) (i32.const 3)))
    (block $done4
      (loop $rows4
        (br_if $done4 (i32.gt_u (i32.add (local.get $k) (i32.const 4)) (local.get $count)))
        (local.set $r0 (i32.add (local.get $stored)
          (i32.mul (i32.load (i32.add (local.get $idx) (i32.shl (local.get $k) (i32.const 2)))) (local.get $rowBytes))))
        (local.set $r1 (i32.add (local.get $stored)
          (i32.mul (i32.load offset=4 (i32.add (local.get $idx) (i32.shl (local.get $k) (i32.const 2)))) (local.get $rowBytes))))
        (local.set $r2 (i32.add (local.get $stored)
          (i32.mul (i32.load offset=8 (i32.add (local.get $idx) (i32.shl (local.get $k) (i32.const 2)))) (local.get $rowBytes))))
        (local.set $r3 (i32.add (local.get $stored)
          (i32.mul (i32.load offset=12 (i32.add (local.get $idx) (i32.shl (local.get $k) (i32.const 2)))) (local.get $rowBytes))))
        (local.set $jb (i32.const 0))
        (block $pairsDone
          (loop $pairs
            (br_if $pairsDone (i32.ge_u (local.get $jb) (local.get $pairEnd)))
            (local.set $o (v128.load (i32.add (local.get $out) (local.get $jb))))
            (local.set $o (f64x2.add (local.get $o) (f64x2.mul (v128.load (i32.add (local.get $r0) (local.get $jb))) (local.get $s))))
            (local.set $o (f64x2.add (local.get $o) (f64x2.mul (v128.load (i32.add (local.get $r1) (local.get $jb))) (local.get $s))))
            (local.set $o (f64x2.add (local.get $o) (f64x2.mul (v128.load (i32.add (local.get $r2) (local.get $jb))) (local.get $s))))
            (local.set $o (f64x2.add (local.get $o) (f64x2.mul (v128.load (i32.add (local.get $r3) (local.get $jb))) (local.get $s))))
            (v128.store (i32.add (local.get $out) (local.get $jb)) (local.get $o))
            (local.set $jb (i32.add (local.get $jb) (i32.const 16)))
            (br $pairs)))
        (if (i32.lt_u (local.get $pairEnd) (local.get $rowBytes))
          (then
            (local.set $x (f64.load (i32.add (local.get $out) (local.get $pairEnd))))
            (local.set $x (f64.add (local.get $x) (f64.mul (f64.load (i32.add (local.get $r0) (local.get $pairEnd))) (local.get $scale))))
            (local.set $x (f64.add (local.get $x) (f64.mul (f64.load (i32.add (local.get $r1) (local.get $pairEnd))) (local.get $scale))))
            (local.set $x (f64.add (local.get $x) (f64.mul (f64.load (i32.add (local.get $r2) (local.get $pairEnd))) (local.get $scale))))
            (local.set $x (f64.add (local.get $x) (f64.mul (f64.load (i32.add (local.get $r3) (local.get $pairEnd))) (local.get $scale))))
            (f64.store (i32.add (local.get $out) (local.get $pairEnd)) (local.get $x))))
        (local.set $k (i32.add (local.get $k) (i32.const 4)))
        (br $rows4)))
    (block $done1
      (loop $rows1
        (br_if $done1 (i32.ge_u (local.get $k) (local.get $count)))
        (local.set $r0 (i32.add (local.get $stored)
          (i32.mul (i32.load (i32.add (local.get $idx) (i32.shl (local.get $k) (i32.const 2)))) (local.get $rowBytes))))
        (local.set $jb (i32.const 0))
        (block $pairsDone
          (loop $pairs
            (br_if $pairsDone (i32.ge_u (local.get $jb) (local.get $pairEnd)))
            (v128.store (i32.add (local.get $out) (local.get $jb))
              (f64x2.add (v128.load (i32.add (local.get $out) (local.get $jb)))
                (f64x2.mul (v128.load (i32.add (local.get $r0) (local.get $jb))) (local.get $s))))
            (local.set $jb (i32.add (local.get $jb) (i32.const 16)))
            (br $pairs)))
        (if (i32.lt_u (local.get $pairEnd) (local.get $rowBytes))
          (then
            (f64.store (i32.add (local.get $out) (local.get $pairEnd))
              (f64.add (f64.load (i32.add (local.get $out) (local.get $pairEnd)))
                (f64.mul (f64.load (i32.add (local.get $r0) (local.get $pairEnd))) (local.get $scale))))))
        (local.set $k (i32.add (local.get $k) (i32.const 1)))
        (br $rows1))))

  ;; rowHardLazy: the row at byte $row, synapse j becomes w - m[j], decays and
  ;; is clamped; columns where m[j] is 0 keep their bits. Keeping them takes
  ;; a compare and a select per pair, a third of the loop's instructions, so
  ;; a row pays it only when m holds a zero that could change a bit ($keep
  ;; 2, from $keepLevel). Without decay (scale, factor and 1 / next scale
  ;; all 1) the multiplications by 1 change no bit, and the loops leave them
  ;; out; where, besides, every weight is within [w_min, w_max] and no
  ;; m[j] has its sign bit set ($keep 0: STDP's depression), w - m[j] <= w
  ;; <= w_max and the upper clamp changes no bit either.
  (func $rowNegWith (param $row i32) (param $m i32) (param $cols i32) (param $keep i32)
    (local $rp i32) (local $mp i32)
    (local $S v128) (local $F v128) (local $LO v128) (local $HI v128) (local $INV v128)
    (local $w v128) (local $d v128) (local $wn v128)
    (local $jb i32) (local $pairEnd i32) (local $rowBytes i32) (local $ds f64)
    (local.set $S (f64x2.splat (f64.load (i32.const 0))))
    (local.set $F (f64x2.splat (f64.load (i32.const 8))))
    (local.set $LO (f64x2.splat (f64.load (i32.const 16))))
    (local.set $HI (f64x2.splat (f64.load (i32.const 24))))
    (local.set $INV (f64x2.splat (f64.load (i32.const 32))))
    (local.set $rowBytes (i32.shl (local.get $cols) (i32.const 3)))
    (local.set $pairEnd (i32.shl (i32.and (local.get $cols) (i32.const -2)) (i32.const 3)))
    (if (call $unitScales)
      (then
        (if (i32.eqz (local.get $keep))
          (then
            ;; Four pairs an iteration, their addresses as offsets from one
            ;; (the loop's own instructions were most of it), then the rest.
            (block $quadsDone
              (loop $quads
                (br_if $quadsDone (i32.gt_u (i32.add (local.get $jb) (i32.const 64)) (local.get $pairEnd)))
                (local.set $rp (i32.add (local.get $row) (local.get $jb)))
                (local.set $mp (i32.add (local.get $m) (local.get $jb)))
                (v128.store (local.get $rp)
                  (f64x2.pmax (f64x2.sub (v128.load (local.get $rp)) (v128.load (local.get $mp))) (local.get $LO)))
                (v128.store offset=16 (local.get $rp)
                  (f64x2.pmax (f64x2.sub (v128.load offset=16 (local.get $rp)) (v128.load offset=16 (local.get $mp))) (local.get $LO)))
                (v128.store offset=32 (local.get $rp)
                  (f64x2.pmax (f64x2.sub (v128.load offset=32 (local.get $rp)) (v128.load offset=32 (local.get $mp))) (local.get $LO)))
                (v128.store offset=48 (local.get $rp)
                  (f64x2.pmax (f64x2.sub (v128.load offset=48 (local.get $rp)) (v128.load offset=48 (local.get $mp))) (local.get $LO)))
                (local.set $jb (i32.add (local.get $jb) (i32.const 64)))
                (br $quads)))
            (block $done
              (loop $pairs
                (br_if $done (i32.ge_u (local.get $jb) (local.get $pairEnd)))
                (v128.store (i32.add (local.get $row) (local.get $jb))
                  (f64x2.pmax
                    (f64x2.sub (v128.load (i32.add (local.get $row) (local.get $jb))) (v128.load (i32.add (local.get $m) (local.get $jb))))
                    (local.get $LO)))
                (local.set $jb (i32.add (local.get $jb) (i32.const 16)))
                (br $pairs))))
        (else (if (i32.eq (local.get $keep) (i32.const 2))
          (then
            (block $done
              (loop $pairs
                (br_if $done (i32.ge_u (local.get $jb) (local.get $pairEnd)))
                (local.set $d (v128.load (i32.add (local.get $m) (local.get $jb))))
                (local.set $w (v128.load (i32.add (local.get $row) (local.get $jb))))
                (local.set $wn (f64x2.pmax (f64x2.pmin (f64x2.sub (local.get $w) (local.get $d)) (local.get $HI)) (local.get $LO)))
                (v128.store (i32.add (local.get $row) (local.get $jb))
                  (v128.bitselect (local.get $w) (local.get $wn) (f64x2.eq (local.get $d) (v128.const f64x2 0 0))))
                (local.set $jb (i32.add (local.get $jb) (i32.const 16)))
                (br $pairs))))
          (else
            (block $quadsDone
              (loop $quads
                (br_if $quadsDone (i32.gt_u (i32.add (local.get $jb) (i32.const 64)) (local.get $pairEnd)))
                (local.set $rp (i32.add (local.get $row) (local.get $jb)))
                (local.set $mp (i32.add (local.get $m) (local.get $jb)))
                (v128.store (local.get $rp)
                  (f64x2.pmax (f64x2.pmin (f64x2.sub (v128.load (local.get $rp)) (v128.load (local.get $mp))) (local.get $HI)) (local.get $LO)))
                (v128.store offset=16 (local.get $rp)
                  (f64x2.pmax (f64x2.pmin (f64x2.sub (v128.load offset=16 (local.get $rp)) (v128.load offset=16 (local.get $mp))) (local.get $HI)) (local.get $LO)))
                (v128.store offset=32 (local.get $rp)
                  (f64x2.pmax (f64x2.pmin (f64x2.sub (v128.load offset=32 (local.get $rp)) (v128.load offset=32 (local.get $mp))) (local.get $HI)) (local.get $LO)))
                (v128.store offset=48 (local.get $rp)
                  (f64x2.pmax (f64x2.pmin (f64x2.sub (v128.load offset=48 (local.get $rp)) (v128.load offset=48 (local.get $mp))) (local.get $HI)) (local.get $LO)))
                (local.set $jb (i32.add (local.get $jb) (i32.const 64)))
                (br $quads)))
            (block $done
              (loop $pairs
                (br_if $done (i32.ge_u (local.get $jb) (local.get $pairEnd)))
                (v128.store (i32.add (local.get $row) (local.get $jb))
                  (f64x2.pmax (f64x2.pmin
                    (f64x2.sub (v128.load (i32.add (local.get $row) (local.get $jb))) (v128.load (i32.add (local.get $m) (local.get $jb))))
                    (local.get $HI)) (local.get $LO)))
                (local.set $jb (i32.add (local.get $jb) (i32.const 16)))
                (br $pairs))))))))
      (else (if (i32.eq (local.get $keep) (i32.const 2))
      (then
        (block $done
          (loop $pairs
            (br_if $done (i32.ge_u (local.get $jb) (local.get $pairEnd)))
            (local.set $d (v128.load (i32.add (local.get $m) (local.get $jb))))
            (local.set $w (v128.load (i32.add (local.get $row) (local.get $jb))))
            (local.set $wn (f64x2.mul (f64x2.sub (f64x2.mul (local.get $w) (local.get $S)) (local.get $d)) (local.get $F)))
            ;; pmin(a, b) is defined as (b < a ? b : a) and pmax(a, b) as (a < b ? b : a):
            ;; the ternaries of weights.ts exactly, -0 and NaN included, in one
            ;; instruction each (unlike min/max, which order -0 below +0).
            (local.set $wn (f64x2.pmax (f64x2.pmin (local.get $wn) (local.get $HI)) (local.get $LO)))
            (local.set $wn (f64x2.mul (local.get $wn) (local.get $INV)))
            (v128.store (i32.add (local.get $row) (local.get $jb))
              (v128.bitselect (local.get $w) (local.get $wn) (f64x2.eq (local.get $d) (v128.const f64x2 0 0))))
            (local.set $jb (i32.add (local.get $jb) (i32.const 16)))
            (br $pairs))))
      (else
        (block $done
          (loop $pairs
            (br_if $done (i32.ge_u (local.get $jb) (local.get $pairEnd)))
            (local.set $wn (f64x2.mul
              (f64x2.sub (f64x2.mul (v128.load (i32.add (local.get $row) (local.get $jb))) (local.get $S))
                (v128.load (i32.add (local.get $m) (local.get $jb))))
              (local.get $F)))
            (v128.store (i32.add (local.get $row) (local.get $jb))
              (f64x2.mul (f64x2.pmax (f64x2.pmin (local.get $wn) (local.get $HI)) (local.get $LO)) (local.get $INV)))
            (local.set $jb (i32.add (local.get $jb) (i32.const 16)))
            (br $pairs)))))))
    (if (i32.lt_u (local.get $pairEnd) (local.get $rowBytes))
      (then
        (local.set $ds (f64.load (i32.add (local.get $m) (local.get $pairEnd))))
        (if (f64.ne (local.get $ds) (f64.const 0))
          (then
            (f64.store (i32.add (local.get $row) (local.get $pairEnd))
              (call $hardLazySub (f64.load (i32.add (local.get $row) (local.get $pairEnd))) (local.get $ds))))))))

  ;; 1 when scale, factor and 1 / next scale are all 1 (no decay).
  (func $unitScales (result i32)
    (i32.and (f64.eq (f64.load (i32.const 0)) (f64.const 1))
      (i32.and (f64.eq (f64.load (i32.const 8)) (f64.const 1)) (f64.eq (f64.load (i32.const 32)) (f64.const 1)))))

  ;; What $rowNegWith must do about m's zeros and signs ($keep): 2, keep
  ;; the bits of the weights where m is 0; 1, clamp on both sides; 0, clamp
  ;; below only. Without decay, and while every stored weight is within
  ;; [w_min, w_max] (the i32 at byte 112: every write clamps, and a restore
  ;; checks what a snapshot brings), where m[j] is +0, w - m is w and the
  ;; clamp leaves it: only a -0 could change a bit (a weight of -0 minus -0
  ;; is +0); and where no m[j] has its sign bit set, w - m[j] <= w <= w_max.
  ;; Otherwise any zero could change a bit.
  (func $keepLevel (param $m i32) (param $cols i32) (result i32)
    (if (result i32) (i32.and (call $unitScales) (i32.load (i32.const 112)))
      (then (call $signs (local.get $m) (local.get $cols)))
      (else (i32.add (i32.const 1) (call $hasZero (local.get $m) (local.get $cols))))))

  ;; Over m[0 .. $cols): 2 when one is -0 (its bits, as +0 == -0), else 1
  ;; when one has its sign bit set, else 0. The odd last entry is left to
  ;; rowNegWith's own check.
  (func $signs (param $m i32) (param $cols i32) (result i32)
    (local $jb i32) (local $pairEnd i32) (local $negZero v128) (local $any v128) (local $x v128) (local $y v128)
    (local.set $pairEnd (i32.shl (i32.and (local.get $cols) (i32.const -2)) (i32.const 3)))
    ;; Two pairs an iteration (the loop's own instructions were half of it).
    (block $twosDone
      (loop $twos
        (br_if $twosDone (i32.gt_u (i32.add (local.get $jb) (i32.const 32)) (local.get $pairEnd)))
        (local.set $x (v128.load (i32.add (local.get $m) (local.get $jb))))
        (local.set $y (v128.load offset=16 (i32.add (local.get $m) (local.get $jb))))
        (local.set $negZero (v128.or (local.get $negZero)
          (v128.or
            (i64x2.eq (local.get $x) (v128.const i64x2 0x8000000000000000 0x8000000000000000))
            (i64x2.eq (local.get $y) (v128.const i64x2 0x8000000000000000 0x8000000000000000)))))
        (local.set $any (v128.or (local.get $any) (v128.or (local.get $x) (local.get $y))))
        (local.set $jb (i32.add (local.get $jb) (i32.const 32)))
        (br $twos)))
    (block $done
      (loop $pairs
        (br_if $done (i32.ge_u (local.get $jb) (local.get $pairEnd)))
        (local.set $x (v128.load (i32.add (local.get $m) (local.get $jb))))
        (local.set $negZero (v128.or (local.get $negZero)
          (i64x2.eq (local.get $x) (v128.const i64x2 0x8000000000000000 0x8000000000000000))))
        (local.set $any (v128.or (local.get $any) (local.get $x)))
        (local.set $jb (i32.add (local.get $jb) (i32.const 16)))
        (br $pairs)))
    (select (i32.const 2) (i32.ne (i64x2.bitmask (local.get $any)) (i32.const 0)) (v128.any_true (local.get $negZero))))

  ;; 1 when one of m[0 .. $cols) is +0 or -0. The odd last entry is left to
  ;; rowNegWith's own check.
  (func $hasZero (param $m i32) (param $cols i32) (result i32)
    (local $jb i32) (local $pairEnd i32) (local $any v128)
    (local.set $pairEnd (i32.shl (i32.and (local.get $cols) (i32.const -2)) (i32.const 3)))
    (block $done
      (loop $pairs
        (br_if $done (i32.ge_u (local.get $jb) (local.get $pairEnd)))
        (local.set $any (v128.or (local.get $any)
          (f64x2.eq (v128.load (i32.add (local.get $m) (local.get $jb))) (v128.const f64x2 0 0))))
        (local.set $jb (i32.add (local.get $jb) (i32.const 16)))
        (br $pairs)))
    (v128.any_true (local.get $any)))

  ;; $rowNegWith for each row listed at $idx (i32, $count of them) with the same m:
  ;; one call, and one look for zeros in m, for all of a step's spiking rows.
  (func (export "rowsNeg") (param $stored i32) (param $cols i32) (param $idx i32) (param $count i32) (param $m i32)
    (local $k i32) (local $rowBytes i32) (local $keep i32)
    (local.set $rowBytes (i32.shl (local.get $cols) (i32.const 3)))
    (if (i32.eqz (local.get $count)) (then (return)))
    (local.set $keep (call $keepLevel (local.get $m) (local.get $cols)))
    (block $done
      (loop $rows
        (br_if $done (i32.ge_u (local.get $k) (local.get $count)))
        (call $rowNegWith
          (i32.add (local.get $stored)
            (i32.mul (i32.load (i32.add (local.get $idx) (i32.shl (local.get $k) (i32.const 2)))) (local.get $rowBytes)))
          (local.get $m) (local.get $cols) (local.get $keep))
        (local.set $k (i32.add (local.get $k) (i32.const 1)))
        (br $rows))))

  ;; $rowNegWith for each row i listed at $rowIdx, with m patched at the columns j
  ;; listed at $colIdx to -(c * (pre[i] + post[j])) and put back to
  ;; -(c * post[j]) after the row (c the double at byte $c): MSTDP's rows,
  ;; where the eligibility adds p_plus[i] at the columns of the post spikes.
  ;; One look for zeros in m serves every row; a patched zero is noted as it
  ;; is written. The listed columns' post[j] are gathered into $save first
  ;; (in the list's order), so that the patches and the putting back take
  ;; two columns a vector.
  (func (export "rowsNegCross")
    (param $stored i32) (param $cols i32) (param $rowIdx i32) (param $rowCount i32) (param $colIdx i32) (param $colCount i32)
    (param $m i32) (param $pre i32) (param $post i32) (param $c i32) (param $save i32)
    (local $k i32) (local $q i32) (local $jb i32) (local $i i32) (local $rowBytes i32) (local $baseKeep i32) (local $z i32)
    (local $cv f64) (local $pi f64) (local $v f64)
    (local $pairEnd i32) (local $j0 i32) (local $j1 i32) (local $CV v128) (local $PI v128) (local $V v128) (local $ZV v128) (local $SV v128)
    (if (i32.eqz (local.get $rowCount)) (then (return)))
    (local.set $rowBytes (i32.shl (local.get $cols) (i32.const 3)))
    (local.set $cv (f64.load (local.get $c)))
    (local.set $CV (f64x2.splat (local.get $cv)))
    (local.set $baseKeep (call $keepLevel (local.get $m) (local.get $cols)))
    (local.set $pairEnd (i32.and (local.get $colCount) (i32.const -2)))
    (block $gathered
      (loop $gather
        (br_if $gathered (i32.ge_u (local.get $q) (local.get $colCount)))
        (f64.store (i32.add (local.get $save) (i32.shl (local.get $q) (i32.const 3)))
          (f64.load (i32.add (local.get $post) (i32.shl (i32.load (i32.add (local.get $colIdx) (i32.shl (local.get $q) (i32.const 2)))) (i32.const 3)))))
        (local.set $q (i32.add (local.get $q) (i32.const 1)))
        (br $gather)))
    (block $done
      (loop $rows
        (br_if $done (i32.ge_u (local.get $k) (local.get $rowCount)))
        (local.set $i (i32.load (i32.add (local.get $rowIdx) (i32.shl (local.get $k) (i32.const 2)))))
        (local.set $pi (f64.load (i32.add (local.get $pre) (i32.shl (local.get $i) (i32.const 3)))))
        (local.set $PI (f64x2.splat (local.get $pi)))
        (local.set $ZV (v128.const i64x2 0 0))
        (local.set $SV (v128.const i64x2 0 0))
        (local.set $q (i32.const 0))
        (block $patched
          (loop $patch
            (br_if $patched (i32.ge_u (local.get $q) (local.get $pairEnd)))
            (local.set $j0 (i32.add (local.get $m) (i32.shl (i32.load (i32.add (local.get $colIdx) (i32.shl (local.get $q) (i32.const 2)))) (i32.const 3))))
            (local.set $j1 (i32.add (local.get $m) (i32.shl (i32.load offset=4 (i32.add (local.get $colIdx) (i32.shl (local.get $q) (i32.const 2)))) (i32.const 3))))
            (local.set $V (f64x2.neg (f64x2.mul (local.get $CV)
              (f64x2.add (local.get $PI) (v128.load (i32.add (local.get $save) (i32.shl (local.get $q) (i32.const 3))))))))
            (v128.store64_lane 0 (local.get $j0) (local.get $V))
            (v128.store64_lane 1 (local.get $j1) (local.get $V))
            (local.set $ZV (v128.or (local.get $ZV) (f64x2.eq (local.get $V) (v128.const f64x2 0 0))))
            (local.set $SV (v128.or (local.get $SV) (local.get $V)))
            (local.set $q (i32.add (local.get $q) (i32.const 2)))
            (br $patch)))
        ;; As $keepLevel over the patched m: a patched zero (of either
        ;; sign) keeps the weights' bits; one with its sign bit set needs
        ;; both clamps.
        (local.set $z (select (i32.const 2) (local.get $baseKeep) (v128.any_true (local.get $ZV))))
        (if (i32.and (i32.eqz (local.get $z)) (i32.ne (i64x2.bitmask (local.get $SV)) (i32.const 0)))
          (then (local.set $z (i32.const 1))))
        (if (i32.lt_u (local.get $q) (local.get $colCount))
          (then
            (local.set $jb (i32.shl (i32.load (i32.add (local.get $colIdx) (i32.shl (local.get $q) (i32.const 2)))) (i32.const 3)))
            (local.set $v (f64.neg (f64.mul (local.get $cv) (f64.add (local.get $pi) (f64.load (i32.add (local.get $post) (local.get $jb)))))))
            (f64.store (i32.add (local.get $m) (local.get $jb)) (local.get $v))
            (if (f64.eq (local.get $v) (f64.const 0))
              (then (local.set $z (i32.const 2)))
              (else (if (i32.and (i32.eqz (local.get $z)) (f64.lt (local.get $v) (f64.const 0))) (then (local.set $z (i32.const 1))))))))
        (call $rowNegWith (i32.add (local.get $stored) (i32.mul (local.get $i) (local.get $rowBytes))) (local.get $m) (local.get $cols) (local.get $z))
        (local.set $q (i32.const 0))
        (block $restored
          (loop $restore
            (br_if $restored (i32.ge_u (local.get $q) (local.get $pairEnd)))
            (local.set $j0 (i32.add (local.get $m) (i32.shl (i32.load (i32.add (local.get $colIdx) (i32.shl (local.get $q) (i32.const 2)))) (i32.const 3))))
            (local.set $j1 (i32.add (local.get $m) (i32.shl (i32.load offset=4 (i32.add (local.get $colIdx) (i32.shl (local.get $q) (i32.const 2)))) (i32.const 3))))
            (local.set $V (f64x2.neg (f64x2.mul (local.get $CV) (v128.load (i32.add (local.get $save) (i32.shl (local.get $q) (i32.const 3)))))))
            (v128.store64_lane 0 (local.get $j0) (local.get $V))
            (v128.store64_lane 1 (local.get $j1) (local.get $V))
            (local.set $q (i32.add (local.get $q) (i32.const 2)))
            (br $restore)))
        (if (i32.lt_u (local.get $q) (local.get $colCount))
          (then
            (local.set $jb (i32.shl (i32.load (i32.add (local.get $colIdx) (i32.shl (local.get $q) (i32.const 2)))) (i32.const 3)))
            (f64.store (i32.add (local.get $m) (local.get $jb))
              (f64.neg (f64.mul (local.get $cv) (f64.load (i32.add (local.get $post) (local.get $jb))))))))
        (local.set $k (i32.add (local.get $k) (i32.const 1)))
        (br $rows))))

  ;; One synapse of $rowNegWith's odd last column: (w * scale - d) * factor,
  ;; clamped, over the next scale.
  (func $hardLazySub (param $w f64) (param $d f64) (result f64)
    (local $wn f64) (local $hi f64) (local $lo f64)
    (local.set $wn (f64.mul (f64.sub (f64.mul (local.get $w) (f64.load (i32.const 0))) (local.get $d)) (f64.load (i32.const 8))))
    (local.set $lo (f64.load (i32.const 16)))
    (local.set $hi (f64.load (i32.const 24)))
    (local.set $wn (select (local.get $hi) (local.get $wn) (f64.gt (local.get $wn) (local.get $hi))))
    (local.set $wn (select (local.get $lo) (local.get $wn) (f64.lt (local.get $wn) (local.get $lo))))
    (f64.mul (local.get $wn) (f64.load (i32.const 32))))

;; applyRow under hard bounds with lazy decay (weights.ts): the row at
  ;; byte $row, synapse j with both terms, ((w * scale + up[j]) - down[j]) *
  ;; factor, clamped, over the next scale; where up[j] and down[j] are both
  ;; +0 or -0 the weight keeps its bits.
  (func $rowUpDown (export "rowUpDown") (param $row i32) (param $up i32) (param $down i32) (param $cols i32)
    (local $S v128) (local $F v128) (local $LO v128) (local $HI v128) (local $INV v128)
    (local $w v128) (local $u v128) (local $d v128) (local $wn v128)
    (local $jb i32) (local $pairEnd i32) (local $rowBytes i32) (local $us f64) (local $ds f64) (local $x f64)
    (local.set $S (f64x2.splat (f64.load (i32.const 0))))
    (local.set $F (f64x2.splat (f64.load (i32.const 8))))
    (local.set $LO (f64x2.splat (f64.load (i32.const 16))))
    (local.set $HI (f64x2.splat (f64.load (i32.const 24))))
    (local.set $INV (f64x2.splat (f64.load (i32.const 32))))
    (local.set $rowBytes (i32.shl (local.get $cols) (i32.const 3)))
    (local.set $pairEnd (i32.shl (i32.and (local.get $cols) (i32.const -2)) (i32.const 3)))
    (block $done
      (loop $pairs
        (br_if $done (i32.ge_u (local.get $jb) (local.get $pairEnd)))
        (local.set $u (v128.load (i32.add (local.get $up) (local.get $jb))))
        (local.set $d (v128.load (i32.add (local.get $down) (local.get $jb))))
        (local.set $w (v128.load (i32.add (local.get $row) (local.get $jb))))
        (local.set $wn (f64x2.mul (f64x2.sub (f64x2.add (f64x2.mul (local.get $w) (local.get $S)) (local.get $u)) (local.get $d)) (local.get $F)))
        (local.set $wn (f64x2.mul (f64x2.pmax (f64x2.pmin (local.get $wn) (local.get $HI)) (local.get $LO)) (local.get $INV)))
        (v128.store (i32.add (local.get $row) (local.get $jb))
          (v128.bitselect (local.get $w) (local.get $wn)
            (v128.and (f64x2.eq (local.get $u) (v128.const f64x2 0 0)) (f64x2.eq (local.get $d) (v128.const f64x2 0 0)))))
        (local.set $jb (i32.add (local.get $jb) (i32.const 16)))
        (br $pairs)))
    (if (i32.lt_u (local.get $pairEnd) (local.get $rowBytes))
      (then
        (local.set $us (f64.load (i32.add (local.get $up) (local.get $pairEnd))))
        (local.set $ds (f64.load (i32.add (local.get $down) (local.get $pairEnd))))
        (if (i32.eqz (i32.and (f64.eq (local.get $us) (f64.const 0)) (f64.eq (local.get $ds) (f64.const 0))))
          (then
            (local.set $x (f64.mul
              (f64.sub (f64.add (f64.mul (f64.load (i32.add (local.get $row) (local.get $pairEnd))) (f64.load (i32.const 0))) (local.get $us)) (local.get $ds))
              (f64.load (i32.const 8))))
            (local.set $x (select (f64.load (i32.const 24)) (local.get $x) (f64.gt (local.get $x) (f64.load (i32.const 24)))))
            (local.set $x (select (f64.load (i32.const 16)) (local.get $x) (f64.lt (local.get $x) (f64.load (i32.const 16)))))
            (f64.store (i32.add (local.get $row) (local.get $pairEnd)) (f64.mul (local.get $x) (f64.load (i32.const 32)))))))))

  ;; $bytes (a multiple of 8) of +0 from byte $at.
  (func $clear (param $at i32) (param $bytes i32)
    (local $b i32) (local $pairEnd i32)
    (local.set $pairEnd (i32.and (local.get $bytes) (i32.const -16)))
    (block $done
      (loop $pairs
        (br_if $done (i32.ge_u (local.get $b) (local.get $pairEnd)))
        (v128.store (i32.add (local.get $at) (local.get $b)) (v128.const i64x2 0 0))
        (local.set $b (i32.add (local.get $b) (i32.const 16)))
        (br $pairs)))
    (if (i32.lt_u (local.get $pairEnd) (local.get $bytes))
      (then (f64.store (i32.add (local.get $at) (local.get $pairEnd)) (f64.const 0)))))

  ;; DenseWeights.takeTerms under hard bounds with lazy decay and a reduction
  ;; factor of 1 (a batch's summed terms): the terms are the matrices at $up
  ;; and $down, shaped as the weights. The rows listed at $rowIdx whole, as
  ;; rowUpDown; then on every other row ($mask[i] != 1) the columns listed
  ;; at $colIdx, as rowUpDown does a synapse. Every term read is cleared to +0.
  (func (export "takeTerms")
    (param $stored i32) (param $rows i32) (param $cols i32) (param $rowIdx i32) (param $rowCount i32)
    (param $mask i32) (param $colIdx i32) (param $colCount i32) (param $up i32) (param $down i32)
    (local $q i32) (local $i i32) (local $off i32) (local $rowBytes i32) (local $k i32)
    (local $u f64) (local $dn f64) (local $wn f64) (local $lo f64) (local $hi f64)
    (local.set $rowBytes (i32.shl (local.get $cols) (i32.const 3)))
    (block $rowsDone
      (loop $rowsLoop
        (br_if $rowsDone (i32.ge_u (local.get $q) (local.get $rowCount)))
        (local.set $off (i32.mul (i32.load (i32.add (local.get $rowIdx) (i32.shl (local.get $q) (i32.const 2)))) (local.get $rowBytes)))
        (call $rowUpDown (i32.add (local.get $stored) (local.get $off)) (i32.add (local.get $up) (local.get $off))
          (i32.add (local.get $down) (local.get $off)) (local.get $cols))
        (call $clear (i32.add (local.get $up) (local.get $off)) (local.get $rowBytes))
        (call $clear (i32.add (local.get $down) (local.get $off)) (local.get $rowBytes))
        (local.set $q (i32.add (local.get $q) (i32.const 1)))
        (br $rowsLoop)))
    (if (i32.eqz (local.get $colCount)) (then (return)))
    (local.set $lo (f64.load (i32.const 16)))
    (local.set $hi (f64.load (i32.const 24)))
    (local.set $off (i32.const 0))
    (block $done
      (loop $rowLoop
        (br_if $done (i32.ge_u (local.get $i) (local.get $rows)))
        (if (i32.ne (i32.load8_u (i32.add (local.get $mask) (local.get $i))) (i32.const 1))
          (then
            (local.set $q (i32.const 0))
            (block $cellsDone
              (loop $cells
                (br_if $cellsDone (i32.ge_u (local.get $q) (local.get $colCount)))
                (local.set $k (i32.add (local.get $off)
                  (i32.shl (i32.load (i32.add (local.get $colIdx) (i32.shl (local.get $q) (i32.const 2)))) (i32.const 3))))
                (local.set $u (f64.load (i32.add (local.get $up) (local.get $k))))
                (local.set $dn (f64.load (i32.add (local.get $down) (local.get $k))))
                (f64.store (i32.add (local.get $up) (local.get $k)) (f64.const 0))
                (f64.store (i32.add (local.get $down) (local.get $k)) (f64.const 0))
                (if (i32.eqz (i32.and (f64.eq (local.get $u) (f64.const 0)) (f64.eq (local.get $dn) (f64.const 0))))
                  (then
                    (local.set $k (i32.add (local.get $stored) (local.get $k)))
                    (local.set $wn (f64.mul
                      (f64.sub (f64.add (f64.mul (f64.load (local.get $k)) (f64.load (i32.const 0))) (local.get $u)) (local.get $dn))
                      (f64.load (i32.const 8))))
                    (local.set $wn (select (local.get $hi) (local.get $wn) (f64.gt (local.get $wn) (local.get $hi))))
                    (local.set $wn (select (local.get $lo) (local.get $wn) (f64.lt (local.get $wn) (local.get $lo))))
                    (f64.store (local.get $k) (f64.mul (local.get $wn) (f64.load (i32.const 32))))))
                (local.set $q (i32.add (local.get $q) (i32.const 1)))
                (br $cells)))))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (local.set $off (i32.add (local.get $off) (local.get $rowBytes)))
        (br $rowLoop))))

  ;; STDP's rows under hard bounds with lazy decay (DenseWeights.applyStdpRows):
  ;; for each row i listed at $rowIdx, synapse (i, j) takes both terms at
  ;; the columns j listed at $colIdx (the post spikes: potentiation up[i],
  ;; the double at $up + 8i, and depression m[j]), as rowUpDown does a
  ;; synapse, and depression m[j] alone at every other column, as rowsNeg does. Each
  ;; synapse changes once, by the expression applyRow gives it ((w + 0) - d
  ;; and w - d are the same bits), so the rows may run before the cells: all
  ;; of a step's rows in one call, with one look for zeros in m. m at the
  ;; listed columns waits in $save while the rows run with 0 there, and is
  ;; put back.
  (func (export "stdpRows")
    (param $stored i32) (param $cols i32) (param $rowIdx i32) (param $rowCount i32) (param $colIdx i32) (param $colCount i32)
    (param $m i32) (param $up i32) (param $save i32)
    (local $k i32) (local $q i32) (local $jb i32) (local $row i32) (local $rowBytes i32) (local $z i32) (local $at i32)
    (local $u f64) (local $dn f64) (local $U v128) (local $wv v128)
    (local $S v128) (local $F v128) (local $LO v128) (local $HI v128) (local $INV v128)
    (local $unit i32) (local $pairEnd i32) (local $k0 i32) (local $k1 i32) (local $UZ v128) (local $DN v128) (local $wn v128)
    (if (i32.eqz (local.get $rowCount)) (then (return)))
    (local.set $rowBytes (i32.shl (local.get $cols) (i32.const 3)))
    (block $saved
      (loop $saving
        (br_if $saved (i32.ge_u (local.get $q) (local.get $colCount)))
        (local.set $jb (i32.shl (i32.load (i32.add (local.get $colIdx) (i32.shl (local.get $q) (i32.const 2)))) (i32.const 3)))
        (f64.store (i32.add (local.get $save) (i32.shl (local.get $q) (i32.const 3))) (f64.load (i32.add (local.get $m) (local.get $jb))))
        (f64.store (i32.add (local.get $m) (local.get $jb)) (f64.const 0))
        (local.set $q (i32.add (local.get $q) (i32.const 1)))
        (br $saving)))
    (local.set $z (call $keepLevel (local.get $m) (local.get $cols)))
    (block $rowsDone
      (loop $rows
        (br_if $rowsDone (i32.ge_u (local.get $k) (local.get $rowCount)))
        (call $rowNegWith
          (i32.add (local.get $stored)
            (i32.mul (i32.load (i32.add (local.get $rowIdx) (i32.shl (local.get $k) (i32.const 2)))) (local.get $rowBytes)))
          (local.get $m) (local.get $cols) (local.get $z))
        (local.set $k (i32.add (local.get $k) (i32.const 1)))
        (br $rows)))
    (local.set $q (i32.const 0))
    (block $restored
      (loop $restore
        (br_if $restored (i32.ge_u (local.get $q) (local.get $colCount)))
        (f64.store
          (i32.add (local.get $m) (i32.shl (i32.load (i32.add (local.get $colIdx) (i32.shl (local.get $q) (i32.const 2)))) (i32.const 3)))
          (f64.load (i32.add (local.get $save) (i32.shl (local.get $q) (i32.const 3)))))
        (local.set $q (i32.add (local.get $q) (i32.const 1)))
        (br $restore)))
    (if (i32.eqz (local.get $colCount)) (then (return)))
    (local.set $S (f64x2.splat (f64.load (i32.const 0))))
    (local.set $F (f64x2.splat (f64.load (i32.const 8))))
    (local.set $LO (f64x2.splat (f64.load (i32.const 16))))
    (local.set $HI (f64x2.splat (f64.load (i32.const 24))))
    (local.set $INV (f64x2.splat (f64.load (i32.const 32))))
    (local.set $unit (call $unitScales))
    (local.set $pairEnd (i32.and (local.get $colCount) (i32.const -2)))
    (local.set $k (i32.const 0))
    (block $cellRowsDone
      (loop $cellRows
        (br_if $cellRowsDone (i32.ge_u (local.get $k) (local.get $rowCount)))
        (local.set $at (i32.load (i32.add (local.get $rowIdx) (i32.shl (local.get $k) (i32.const 2)))))
        (local.set $row (i32.add (local.get $stored) (i32.mul (local.get $at) (local.get $rowBytes))))
        (local.set $u (f64.load (i32.add (local.get $up) (i32.shl (local.get $at) (i32.const 3)))))
        (local.set $U (f64x2.splat (local.get $u)))
        (local.set $UZ (f64x2.eq (local.get $U) (v128.const f64x2 0 0)))
        ;; Two cells a vector, their columns' m from $save (in the list's
        ;; order); a cell where u and m[j] are both 0 keeps its bits, by a
        ;; mask (a branch on each cell's doubles would cost more than the
        ;; arithmetic). Without decay the multiplications by 1 are left out.
        (local.set $q (i32.const 0))
        (if (local.get $unit)
          (then
            (block $unitDone
              (loop $unitPairs
                (br_if $unitDone (i32.ge_u (local.get $q) (local.get $pairEnd)))
                (local.set $k0 (i32.add (local.get $row) (i32.shl (i32.load (i32.add (local.get $colIdx) (i32.shl (local.get $q) (i32.const 2)))) (i32.const 3))))
                (local.set $k1 (i32.add (local.get $row) (i32.shl (i32.load offset=4 (i32.add (local.get $colIdx) (i32.shl (local.get $q) (i32.const 2)))) (i32.const 3))))
                (local.set $DN (v128.load (i32.add (local.get $save) (i32.shl (local.get $q) (i32.const 3)))))
                (local.set $wv (v128.load64_lane 1 (local.get $k1) (v128.load64_zero (local.get $k0))))
                (local.set $wn (f64x2.pmax (f64x2.pmin (f64x2.sub (f64x2.add (local.get $wv) (local.get $U)) (local.get $DN)) (local.get $HI)) (local.get $LO)))
                (local.set $wn (v128.bitselect (local.get $wv) (local.get $wn) (v128.and (local.get $UZ) (f64x2.eq (local.get $DN) (v128.const f64x2 0 0)))))
                (v128.store64_lane 0 (local.get $k0) (local.get $wn))
                (v128.store64_lane 1 (local.get $k1) (local.get $wn))
                (local.set $q (i32.add (local.get $q) (i32.const 2)))
                (br $unitPairs))))
          (else
            (block $pairsDone
              (loop $pairs
                (br_if $pairsDone (i32.ge_u (local.get $q) (local.get $pairEnd)))
                (local.set $k0 (i32.add (local.get $row) (i32.shl (i32.load (i32.add (local.get $colIdx) (i32.shl (local.get $q) (i32.const 2)))) (i32.const 3))))
                (local.set $k1 (i32.add (local.get $row) (i32.shl (i32.load offset=4 (i32.add (local.get $colIdx) (i32.shl (local.get $q) (i32.const 2)))) (i32.const 3))))
                (local.set $DN (v128.load (i32.add (local.get $save) (i32.shl (local.get $q) (i32.const 3)))))
                (local.set $wv (v128.load64_lane 1 (local.get $k1) (v128.load64_zero (local.get $k0))))
                (local.set $wn (f64x2.mul
                  (f64x2.sub (f64x2.add (f64x2.mul (local.get $wv) (local.get $S)) (local.get $U)) (local.get $DN))
                  (local.get $F)))
                (local.set $wn (f64x2.mul (f64x2.pmax (f64x2.pmin (local.get $wn) (local.get $HI)) (local.get $LO)) (local.get $INV)))
                (local.set $wn (v128.bitselect (local.get $wv) (local.get $wn) (v128.and (local.get $UZ) (f64x2.eq (local.get $DN) (v128.const f64x2 0 0)))))
                (v128.store64_lane 0 (local.get $k0) (local.get $wn))
                (v128.store64_lane 1 (local.get $k1) (local.get $wn))
                (local.set $q (i32.add (local.get $q) (i32.const 2)))
                (br $pairs)))))
        ;; An odd last cell in a vector's first lane.
        (if (i32.lt_u (local.get $q) (local.get $colCount))
          (then
            (local.set $jb (i32.shl (i32.load (i32.add (local.get $colIdx) (i32.shl (local.get $q) (i32.const 2)))) (i32.const 3)))
            (local.set $dn (f64.load (i32.add (local.get $save) (i32.shl (local.get $q) (i32.const 3)))))
            (if (i32.eqz (i32.and (f64.eq (local.get $u) (f64.const 0)) (f64.eq (local.get $dn) (f64.const 0))))
              (then
                (local.set $at (i32.add (local.get $row) (local.get $jb)))
                (local.set $wv (f64x2.mul
                  (f64x2.sub (f64x2.add (f64x2.mul (v128.load64_zero (local.get $at)) (local.get $S)) (local.get $U))
                    (f64x2.splat (local.get $dn)))
                  (local.get $F)))
                (v128.store64_lane 0 (local.get $at)
                  (f64x2.mul (f64x2.pmax (f64x2.pmin (local.get $wv) (local.get $HI)) (local.get $LO)) (local.get $INV)))))))
        (local.set $k (i32.add (local.get $k) (i32.const 1)))
        (br $cellRows))))

  ;; applyCross under hard bounds with lazy decay: for every row i with
  ;; perRow[i] != 0 and mask[i] != 1, the listed columns get perRow[i] as
  ;; potentiation ($split 0), or split by sign into potentiation and
  ;; depression ($split 1), net change (up - down). The listed synapses of a
  ;; row are scattered, so two at a time go into the lanes of one vector:
  ;; the arithmetic is per lane and branch-free (a clamp that branched would
  ;; mispredict on every weight at a bound).
  (func (export "cross")
    (param $stored i32) (param $rows i32) (param $cols i32) (param $perRow i32) (param $mask i32)
    (param $colIdx i32) (param $colCount i32) (param $split i32)
    (local $i i32) (local $c i32) (local $a f64) (local $up f64) (local $down f64) (local $D v128)
    (local $base i32) (local $rowBytes i32) (local $k0 i32) (local $k1 i32) (local $pairEnd i32)
    (local $S v128) (local $F v128) (local $LO v128) (local $HI v128) (local $INV v128) (local $wn v128)
    (local.set $S (f64x2.splat (f64.load (i32.const 0))))
    (local.set $F (f64x2.splat (f64.load (i32.const 8))))
    (local.set $LO (f64x2.splat (f64.load (i32.const 16))))
    (local.set $HI (f64x2.splat (f64.load (i32.const 24))))
    (local.set $INV (f64x2.splat (f64.load (i32.const 32))))
    (local.set $rowBytes (i32.shl (local.get $cols) (i32.const 3)))
    (local.set $pairEnd (i32.and (local.get $colCount) (i32.const -2)))
    (local.set $base (local.get $stored))
    (block $done
      (loop $rowsLoop
        (br_if $done (i32.ge_u (local.get $i) (local.get $rows)))
        (local.set $a (f64.load (i32.add (local.get $perRow) (i32.shl (local.get $i) (i32.const 3)))))
        (if (i32.eqz (i32.or (f64.eq (local.get $a) (f64.const 0))
                             (i32.eq (i32.load8_u (i32.add (local.get $mask) (local.get $i))) (i32.const 1))))
          (then
            (if (local.get $split)
              (then
                (local.set $up (select (local.get $a) (f64.const 0) (f64.gt (local.get $a) (f64.const 0))))
                (local.set $down (select (f64.neg (local.get $a)) (f64.const 0) (f64.lt (local.get $a) (f64.const 0)))))
              (else
                (local.set $up (local.get $a))
                (local.set $down (f64.const 0))))
            (local.set $D (f64x2.splat (f64.sub (local.get $up) (local.get $down))))
            (local.set $c (i32.const 0))
            (block $pairsDone
              (loop $pairs
                (br_if $pairsDone (i32.ge_u (local.get $c) (local.get $pairEnd)))
                (local.set $k0 (i32.add (local.get $base)
                  (i32.shl (i32.load (i32.add (local.get $colIdx) (i32.shl (local.get $c) (i32.const 2)))) (i32.const 3))))
                (local.set $k1 (i32.add (local.get $base)
                  (i32.shl (i32.load offset=4 (i32.add (local.get $colIdx) (i32.shl (local.get $c) (i32.const 2)))) (i32.const 3))))
                (local.set $wn (v128.load64_lane 1 (local.get $k1) (v128.load64_zero (local.get $k0))))
                (local.set $wn (f64x2.mul (f64x2.add (f64x2.mul (local.get $wn) (local.get $S)) (local.get $D)) (local.get $F)))
                (local.set $wn (f64x2.mul (f64x2.pmax (f64x2.pmin (local.get $wn) (local.get $HI)) (local.get $LO)) (local.get $INV)))
                (v128.store64_lane 0 (local.get $k0) (local.get $wn))
                (v128.store64_lane 1 (local.get $k1) (local.get $wn))
                (local.set $c (i32.add (local.get $c) (i32.const 2)))
                (br $pairs)))
            (if (i32.lt_u (local.get $pairEnd) (local.get $colCount))
              (then
                (local.set $k0 (i32.add (local.get $base)
                  (i32.shl (i32.load (i32.add (local.get $colIdx) (i32.shl (local.get $pairEnd) (i32.const 2)))) (i32.const 3))))
                (local.set $wn (v128.load64_zero (local.get $k0)))
                (local.set $wn (f64x2.mul (f64x2.add (f64x2.mul (local.get $wn) (local.get $S)) (local.get $D)) (local.get $F)))
                (local.set $wn (f64x2.mul (f64x2.pmax (f64x2.pmin (local.get $wn) (local.get $HI)) (local.get $LO)) (local.get $INV)))
                (v128.store64_lane 0 (local.get $k0) (local.get $wn))))))
        (local.set $base (i32.add (local.get $base) (local.get $rowBytes)))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $rowsLoop))))
  ;; The eager decay (weights.ts decayAndClamp): every stored weight times
  ;; factor, clamped, for bounds that exclude 0, where the lazy scale would
  ;; not be exact.
  (func (export "decayClamp") (param $stored i32) (param $n i32)
    (local $F v128) (local $LO v128) (local $HI v128) (local $b i32) (local $pairEnd i32) (local $end i32)
    (local.set $F (f64x2.splat (f64.load (i32.const 8))))
    (local.set $LO (f64x2.splat (f64.load (i32.const 16))))
    (local.set $HI (f64x2.splat (f64.load (i32.const 24))))
    (local.set $end (i32.add (local.get $stored) (i32.shl (local.get $n) (i32.const 3))))
    (local.set $pairEnd (i32.add (local.get $stored) (i32.shl (i32.and (local.get $n) (i32.const -2)) (i32.const 3))))
    (local.set $b (local.get $stored))
    (block $done
      (loop $pairs
        (br_if $done (i32.ge_u (local.get $b) (local.get $pairEnd)))
        (v128.store (local.get $b)
          (f64x2.pmax (f64x2.pmin (f64x2.mul (v128.load (local.get $b)) (local.get $F)) (local.get $HI)) (local.get $LO)))
        (local.set $b (i32.add (local.get $b) (i32.const 16)))
        (br $pairs)))
    (if (i32.lt_u (local.get $pairEnd) (local.get $end))
      (then
        (v128.store64_lane 0 (local.get $pairEnd)
          (f64x2.pmax (f64x2.pmin (f64x2.mul (v128.load64_zero (local.get $pairEnd)) (local.get $F)) (local.get $HI)) (local.get $LO))))))

  ;; dst[i] = c * src[i], or -(c * src[i]) when $negate, for i < $n, with c
  ;; the double at byte $c: the rules' per-row and per-column terms.
  (func (export "scaleInto") (param $dst i32) (param $src i32) (param $n i32) (param $c i32) (param $negate i32)
    (local $C v128) (local $b i32) (local $pairEnd i32) (local $end i32) (local $x v128) (local $s i32) (local $d i32)
    (local.set $C (f64x2.splat (f64.load (local.get $c))))
    (local.set $end (i32.shl (local.get $n) (i32.const 3)))
    (local.set $pairEnd (i32.shl (i32.and (local.get $n) (i32.const -2)) (i32.const 3)))
    ;; Four pairs an iteration, each sign in a loop of its own (the loop's
    ;; own instructions were half of it), then the rest.
    (if (local.get $negate)
      (then
        (block $quadsDone
          (loop $quads
            (br_if $quadsDone (i32.gt_u (i32.add (local.get $b) (i32.const 64)) (local.get $pairEnd)))
            (local.set $s (i32.add (local.get $src) (local.get $b)))
            (local.set $d (i32.add (local.get $dst) (local.get $b)))
            (v128.store (local.get $d) (f64x2.neg (f64x2.mul (local.get $C) (v128.load (local.get $s)))))
            (v128.store offset=16 (local.get $d) (f64x2.neg (f64x2.mul (local.get $C) (v128.load offset=16 (local.get $s)))))
            (v128.store offset=32 (local.get $d) (f64x2.neg (f64x2.mul (local.get $C) (v128.load offset=32 (local.get $s)))))
            (v128.store offset=48 (local.get $d) (f64x2.neg (f64x2.mul (local.get $C) (v128.load offset=48 (local.get $s)))))
            (local.set $b (i32.add (local.get $b) (i32.const 64)))
            (br $quads))))
      (else
        (block $quadsDone
          (loop $quads
            (br_if $quadsDone (i32.gt_u (i32.add (local.get $b) (i32.const 64)) (local.get $pairEnd)))
            (local.set $s (i32.add (local.get $src) (local.get $b)))
            (local.set $d (i32.add (local.get $dst) (local.get $b)))
            (v128.store (local.get $d) (f64x2.mul (local.get $C) (v128.load (local.get $s))))
            (v128.store offset=16 (local.get $d) (f64x2.mul (local.get $C) (v128.load offset=16 (local.get $s))))
            (v128.store offset=32 (local.get $d) (f64x2.mul (local.get $C) (v128.load offset=32 (local.get $s))))
            (v128.store offset=48 (local.get $d) (f64x2.mul (local.get $C) (v128.load offset=48 (local.get $s))))
            (local.set $b (i32.add (local.get $b) (i32.const 64)))
            (br $quads)))))
    (block $done
      (loop $pairs
        (br_if $done (i32.ge_u (local.get $b) (local.get $pairEnd)))
        (local.set $x (f64x2.mul (local.get $C) (v128.load (i32.add (local.get $src) (local.get $b)))))
        (if (local.get $negate) (then (local.set $x (f64x2.neg (local.get $x)))))
        (v128.store (i32.add (local.get $dst) (local.get $b)) (local.get $x))
        (local.set $b (i32.add (local.get $b) (i32.const 16)))
        (br $pairs)))
    (if (i32.lt_u (local.get $pairEnd) (local.get $end))
      (then
        (local.set $x (f64x2.mul (local.get $C) (v128.load64_zero (i32.add (local.get $src) (local.get $pairEnd)))))
        (if (local.get $negate) (then (local.set $x (f64x2.neg (local.get $x)))))
        (v128.store64_lane 0 (i32.add (local.get $dst) (local.get $pairEnd)) (local.get $x)))))

  ;; p[i] = p[i] * d + a * s[i] for the $n entries at $p, s[i] 1 for the
  ;; $count indices listed at $idx and 0 elsewhere (d and a the doubles at
  ;; byte $d): every entry as p * d + a * 0, two a vector, then a added at
  ;; each listed one. (p * d + a * 0) + a is p * d + a to the bit: adding a
  ;; zero changes only a zero's sign, a non-zero a then decides the sum, and
  ;; a zero a is a * 0 itself, added twice.
  (func (export "decayAddList") (param $p i32) (param $idx i32) (param $count i32) (param $n i32) (param $d i32)
    (local $k i32) (local $decay f64) (local $a f64) (local $z f64) (local $at i32) (local $end i32) (local $pairEnd i32)
    (local $DECAY v128) (local $Z v128)
    (local.set $decay (f64.load (local.get $d)))
    (local.set $a (f64.load offset=8 (local.get $d)))
    (local.set $z (f64.mul (local.get $a) (f64.const 0)))
    (local.set $DECAY (f64x2.splat (local.get $decay)))
    (local.set $Z (f64x2.splat (local.get $z)))
    (local.set $at (local.get $p))
    (local.set $end (i32.add (local.get $p) (i32.shl (local.get $n) (i32.const 3))))
    (local.set $pairEnd (i32.add (local.get $p) (i32.shl (i32.and (local.get $n) (i32.const -2)) (i32.const 3))))
    ;; Four pairs an iteration (the loop's own instructions were half of
    ;; it), then the rest.
    (block $quadsDone
      (loop $quads
        (br_if $quadsDone (i32.gt_u (i32.add (local.get $at) (i32.const 64)) (local.get $pairEnd)))
        (v128.store (local.get $at) (f64x2.add (f64x2.mul (v128.load (local.get $at)) (local.get $DECAY)) (local.get $Z)))
        (v128.store offset=16 (local.get $at) (f64x2.add (f64x2.mul (v128.load offset=16 (local.get $at)) (local.get $DECAY)) (local.get $Z)))
        (v128.store offset=32 (local.get $at) (f64x2.add (f64x2.mul (v128.load offset=32 (local.get $at)) (local.get $DECAY)) (local.get $Z)))
        (v128.store offset=48 (local.get $at) (f64x2.add (f64x2.mul (v128.load offset=48 (local.get $at)) (local.get $DECAY)) (local.get $Z)))
        (local.set $at (i32.add (local.get $at) (i32.const 64)))
        (br $quads)))
    (block $pairsDone
      (loop $pairs
        (br_if $pairsDone (i32.ge_u (local.get $at) (local.get $pairEnd)))
        (v128.store (local.get $at) (f64x2.add (f64x2.mul (v128.load (local.get $at)) (local.get $DECAY)) (local.get $Z)))
        (local.set $at (i32.add (local.get $at) (i32.const 16)))
        (br $pairs)))
    (if (i32.lt_u (local.get $at) (local.get $end))
      (then (f64.store (local.get $at) (f64.add (f64.mul (f64.load (local.get $at)) (local.get $decay)) (local.get $z)))))
    (block $listed
      (loop $spikes
        (br_if $listed (i32.ge_u (local.get $k) (local.get $count)))
        (local.set $at (i32.add (local.get $p) (i32.shl (i32.load (i32.add (local.get $idx) (i32.shl (local.get $k) (i32.const 2)))) (i32.const 3))))
        (f64.store (local.get $at) (f64.add (f64.load (local.get $at)) (local.get $a)))
        (local.set $k (i32.add (local.get $k) (i32.const 1)))
        (br $spikes))))

;; MSTDPET's dense update under hard bounds with lazy decay (weights.ts
  ;; denseScaled): every synapse gets dw = c * m[k] (c the double at byte
  ;; $c, m the trace at $m), (w * scale + dw) * factor, clamped, over the
  ;; next scale; where dw is +0 or -0 the weight is kept as it is.
  (func (export "denseAdd") (param $stored i32) (param $m i32) (param $n i32) (param $c i32)
    (local $C v128) (local $S v128) (local $F v128) (local $LO v128) (local $HI v128) (local $INV v128)
    (local $w v128) (local $dw v128) (local $wn v128) (local $b i32) (local $pairEnd i32) (local $end i32)
    (local $cs f64) (local $ws f64) (local $ds f64) (local $x f64)
    (local.set $cs (f64.load (local.get $c)))
    (local.set $C (f64x2.splat (local.get $cs)))
    (local.set $S (f64x2.splat (f64.load (i32.const 0))))
    (local.set $F (f64x2.splat (f64.load (i32.const 8))))
    (local.set $LO (f64x2.splat (f64.load (i32.const 16))))
    (local.set $HI (f64x2.splat (f64.load (i32.const 24))))
    (local.set $INV (f64x2.splat (f64.load (i32.const 32))))
    (local.set $end (i32.shl (local.get $n) (i32.const 3)))
    (local.set $pairEnd (i32.shl (i32.and (local.get $n) (i32.const -2)) (i32.const 3)))
    (block $done
      (loop $pairs
        (br_if $done (i32.ge_u (local.get $b) (local.get $pairEnd)))
        (local.set $dw (f64x2.mul (local.get $C) (v128.load (i32.add (local.get $m) (local.get $b)))))
        (local.set $w (v128.load (i32.add (local.get $stored) (local.get $b))))
        (local.set $wn (f64x2.mul (f64x2.add (f64x2.mul (local.get $w) (local.get $S)) (local.get $dw)) (local.get $F)))
        (local.set $wn (f64x2.mul (f64x2.pmax (f64x2.pmin (local.get $wn) (local.get $HI)) (local.get $LO)) (local.get $INV)))
        (v128.store (i32.add (local.get $stored) (local.get $b))
          (v128.bitselect (local.get $w) (local.get $wn) (f64x2.eq (local.get $dw) (v128.const f64x2 0 0))))
        (local.set $b (i32.add (local.get $b) (i32.const 16)))
        (br $pairs)))
    (if (i32.lt_u (local.get $pairEnd) (local.get $end))
      (then
        (local.set $ds (f64.mul (local.get $cs) (f64.load (i32.add (local.get $m) (local.get $pairEnd)))))
        (if (f64.ne (local.get $ds) (f64.const 0))
          (then
            (local.set $x (f64.mul (f64.add (f64.mul (f64.load (i32.add (local.get $stored) (local.get $pairEnd))) (f64.load (i32.const 0)))
              (local.get $ds)) (f64.load (i32.const 8))))
            (local.set $x (select (f64.load (i32.const 24)) (local.get $x) (f64.gt (local.get $x) (f64.load (i32.const 24)))))
            (local.set $x (select (f64.load (i32.const 16)) (local.get $x) (f64.lt (local.get $x) (f64.load (i32.const 16)))))
            (f64.store (i32.add (local.get $stored) (local.get $pairEnd)) (f64.mul (local.get $x) (f64.load (i32.const 32)))))))))

  ;; denseAdd with the trace's pending columns (weights.ts denseScaled):
  ;; synapse (i, j) gets dw = c * (m[i][j] + pr[i] * q[j]) (pr and q the
  ;; post spikes' pending columns, trace-columns.ts), then as in denseAdd.
  ;; A row at a time, two synapses a vector.
  (func (export "denseAddPending") (param $stored i32) (param $m i32) (param $rows i32) (param $cols i32) (param $c i32) (param $pr i32) (param $q i32)
    (local $C v128) (local $S v128) (local $F v128) (local $LO v128) (local $HI v128) (local $INV v128) (local $P v128)
    (local $w v128) (local $dw v128) (local $wn v128) (local $b i32) (local $pairEnd i32) (local $rowBytes i32) (local $i i32)
    (local $base i32) (local $cs f64) (local $ps f64) (local $ds f64) (local $x f64)
    (local.set $cs (f64.load (local.get $c)))
    (local.set $C (f64x2.splat (local.get $cs)))
    (local.set $S (f64x2.splat (f64.load (i32.const 0))))
    (local.set $F (f64x2.splat (f64.load (i32.const 8))))
    (local.set $LO (f64x2.splat (f64.load (i32.const 16))))
    (local.set $HI (f64x2.splat (f64.load (i32.const 24))))
    (local.set $INV (f64x2.splat (f64.load (i32.const 32))))
    (local.set $rowBytes (i32.shl (local.get $cols) (i32.const 3)))
    (local.set $pairEnd (i32.shl (i32.and (local.get $cols) (i32.const -2)) (i32.const 3)))
    (block $rowsDone
      (loop $rowsLoop
        (br_if $rowsDone (i32.ge_u (local.get $i) (local.get $rows)))
        (local.set $base (i32.mul (local.get $i) (local.get $rowBytes)))
        (local.set $ps (f64.load (i32.add (local.get $pr) (i32.shl (local.get $i) (i32.const 3)))))
        (local.set $P (f64x2.splat (local.get $ps)))
        (local.set $b (i32.const 0))
        (block $done
          (loop $pairs
            (br_if $done (i32.ge_u (local.get $b) (local.get $pairEnd)))
            (local.set $dw (f64x2.mul (local.get $C)
              (f64x2.add (v128.load (i32.add (local.get $m) (i32.add (local.get $base) (local.get $b))))
                (f64x2.mul (local.get $P) (v128.load (i32.add (local.get $q) (local.get $b)))))))
            (local.set $w (v128.load (i32.add (local.get $stored) (i32.add (local.get $base) (local.get $b)))))
            (local.set $wn (f64x2.mul (f64x2.add (f64x2.mul (local.get $w) (local.get $S)) (local.get $dw)) (local.get $F)))
            (local.set $wn (f64x2.mul (f64x2.pmax (f64x2.pmin (local.get $wn) (local.get $HI)) (local.get $LO)) (local.get $INV)))
            (v128.store (i32.add (local.get $stored) (i32.add (local.get $base) (local.get $b)))
              (v128.bitselect (local.get $w) (local.get $wn) (f64x2.eq (local.get $dw) (v128.const f64x2 0 0))))
            (local.set $b (i32.add (local.get $b) (i32.const 16)))
            (br $pairs)))
        (if (i32.lt_u (local.get $pairEnd) (local.get $rowBytes))
          (then
            (local.set $ds (f64.mul (local.get $cs)
              (f64.add (f64.load (i32.add (local.get $m) (i32.add (local.get $base) (local.get $pairEnd))))
                (f64.mul (local.get $ps) (f64.load (i32.add (local.get $q) (local.get $pairEnd)))))))
            (if (f64.ne (local.get $ds) (f64.const 0))
              (then
                (local.set $x (f64.mul (f64.add (f64.mul (f64.load (i32.add (local.get $stored) (i32.add (local.get $base) (local.get $pairEnd))))
                  (f64.load (i32.const 0))) (local.get $ds)) (f64.load (i32.const 8))))
                (local.set $x (select (f64.load (i32.const 24)) (local.get $x) (f64.gt (local.get $x) (f64.load (i32.const 24)))))
                (local.set $x (select (f64.load (i32.const 16)) (local.get $x) (f64.lt (local.get $x) (f64.load (i32.const 16)))))
                (f64.store (i32.add (local.get $stored) (i32.add (local.get $base) (local.get $pairEnd)))
                  (f64.mul (local.get $x) (f64.load (i32.const 32))))))))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $rowsLoop))))

  ;; For each row i listed at $idx ($count of them), m[i][j] = (m[i][j] +
  ;; v[j]) - dq[i] * q[j] for every column, or m[i][j] + v[j] where dq[i] is
  ;; +0 or -0 (q is never negative, so dq[i] * q[j] is then +0 and the
  ;; subtraction changes no bit): MSTDPET's trace takes the eligibility of
  ;; the pre spikes' rows, and the row's share of the pending columns that its
  ;; neuron's spike changed (trace-columns.ts). With $keepMax, out[i] = max
  ;; over j of |m[i][j]| after, read while the row is still in cache.
  (func (export "addRows") (param $m i32) (param $cols i32) (param $idx i32) (param $count i32) (param $v i32) (param $q i32) (param $dq i32)
    (param $out i32) (param $keepMax i32)
    (local $k i32) (local $i i32) (local $row i32) (local $jb i32) (local $rowBytes i32) (local $pairEnd i32)
    (local $ds f64) (local $D v128)
    (local.set $rowBytes (i32.shl (local.get $cols) (i32.const 3)))
    (local.set $pairEnd (i32.shl (i32.and (local.get $cols) (i32.const -2)) (i32.const 3)))
    (block $done
      (loop $rows
        (br_if $done (i32.ge_u (local.get $k) (local.get $count)))
        (local.set $i (i32.load (i32.add (local.get $idx) (i32.shl (local.get $k) (i32.const 2)))))
        (local.set $row (i32.add (local.get $m) (i32.mul (local.get $i) (local.get $rowBytes))))
        (local.set $ds (f64.load (i32.add (local.get $dq) (i32.shl (local.get $i) (i32.const 3)))))
        (local.set $D (f64x2.splat (local.get $ds)))
        (local.set $jb (i32.const 0))
        (if (f64.eq (local.get $ds) (f64.const 0))
          (then
            (block $pairsDone
              (loop $pairs
                (br_if $pairsDone (i32.ge_u (local.get $jb) (local.get $pairEnd)))
                (v128.store (i32.add (local.get $row) (local.get $jb))
                  (f64x2.add (v128.load (i32.add (local.get $row) (local.get $jb))) (v128.load (i32.add (local.get $v) (local.get $jb)))))
                (local.set $jb (i32.add (local.get $jb) (i32.const 16)))
                (br $pairs)))
            (if (i32.lt_u (local.get $pairEnd) (local.get $rowBytes))
              (then
                (f64.store (i32.add (local.get $row) (local.get $pairEnd))
                  (f64.add (f64.load (i32.add (local.get $row) (local.get $pairEnd))) (f64.load (i32.add (local.get $v) (local.get $pairEnd))))))))
          (else
            (block $pairsDone
              (loop $pairs
                (br_if $pairsDone (i32.ge_u (local.get $jb) (local.get $pairEnd)))
                (v128.store (i32.add (local.get $row) (local.get $jb))
                  (f64x2.sub
                    (f64x2.add (v128.load (i32.add (local.get $row) (local.get $jb))) (v128.load (i32.add (local.get $v) (local.get $jb))))
                    (f64x2.mul (local.get $D) (v128.load (i32.add (local.get $q) (local.get $jb))))))
                (local.set $jb (i32.add (local.get $jb) (i32.const 16)))
                (br $pairs)))
            (if (i32.lt_u (local.get $pairEnd) (local.get $rowBytes))
              (then
                (f64.store (i32.add (local.get $row) (local.get $pairEnd))
                  (f64.sub
                    (f64.add (f64.load (i32.add (local.get $row) (local.get $pairEnd))) (f64.load (i32.add (local.get $v) (local.get $pairEnd))))
                    (f64.mul (local.get $ds) (f64.load (i32.add (local.get $q) (local.get $pairEnd))))))))))
        (if (local.get $keepMax)
          (then (f64.store (i32.add (local.get $out) (i32.shl (local.get $i) (i32.const 3))) (call $rowMaxAbs (local.get $row) (local.get $rowBytes)))))
        (local.set $k (i32.add (local.get $k) (i32.const 1)))
        (br $rows))))

  ;; Every row i: m[i][j] = (m[i][j] - dq[i] * q[j]) + pr[i] * q[j] for every
  ;; column (the first subtraction left out where dq[i] is 0, as in
  ;; addRows): the post spikes' pending columns taken into MSTDPET's trace
  ;; (trace-columns.ts).
  (func (export "foldColumns") (param $m i32) (param $rows i32) (param $cols i32) (param $pr i32) (param $q i32) (param $dq i32)
    (local $i i32) (local $row i32) (local $jb i32) (local $rowBytes i32) (local $pairEnd i32)
    (local $ds f64) (local $ps f64) (local $D v128) (local $P v128) (local $x v128) (local $qv v128)
    (local.set $rowBytes (i32.shl (local.get $cols) (i32.const 3)))
    (local.set $pairEnd (i32.shl (i32.and (local.get $cols) (i32.const -2)) (i32.const 3)))
    (block $done
      (loop $rows
        (br_if $done (i32.ge_u (local.get $i) (local.get $rows)))
        (local.set $row (i32.add (local.get $m) (i32.mul (local.get $i) (local.get $rowBytes))))
        (local.set $ds (f64.load (i32.add (local.get $dq) (i32.shl (local.get $i) (i32.const 3)))))
        (local.set $ps (f64.load (i32.add (local.get $pr) (i32.shl (local.get $i) (i32.const 3)))))
        (local.set $D (f64x2.splat (local.get $ds)))
        (local.set $P (f64x2.splat (local.get $ps)))
        (local.set $jb (i32.const 0))
        (block $pairsDone
          (loop $pairs
            (br_if $pairsDone (i32.ge_u (local.get $jb) (local.get $pairEnd)))
            (local.set $qv (v128.load (i32.add (local.get $q) (local.get $jb))))
            (local.set $x (v128.load (i32.add (local.get $row) (local.get $jb))))
            (if (f64.ne (local.get $ds) (f64.const 0))
              (then (local.set $x (f64x2.sub (local.get $x) (f64x2.mul (local.get $D) (local.get $qv))))))
            (v128.store (i32.add (local.get $row) (local.get $jb)) (f64x2.add (local.get $x) (f64x2.mul (local.get $P) (local.get $qv))))
            (local.set $jb (i32.add (local.get $jb) (i32.const 16)))
            (br $pairs)))
        (if (i32.lt_u (local.get $pairEnd) (local.get $rowBytes))
          (then
            (local.set $qv (v128.load64_zero (i32.add (local.get $q) (local.get $pairEnd))))
            (local.set $x (v128.load64_zero (i32.add (local.get $row) (local.get $pairEnd))))
            (if (f64.ne (local.get $ds) (f64.const 0))
              (then (local.set $x (f64x2.sub (local.get $x) (f64x2.mul (local.get $D) (local.get $qv))))))
            (v128.store64_lane 0 (i32.add (local.get $row) (local.get $pairEnd)) (f64x2.add (local.get $x) (f64x2.mul (local.get $P) (local.get $qv))))))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $rows))))

  ;; MSTDPET's lazy rewards (lazy-rewards.ts lazyRowJs): one row's real
  ;; weights w = (u + T * dG) + wf * (H[j] - H0[j]) (H0 at $h0) into $real,
  ;; and the columns where u - b < w_min or u + b > w_max, listed (i32) at
  ;; $fails, in column order; returns how many. The list is written
  ;; without branches: each pair stores both its columns at the list's end
  ;; and moves the end past those that fail (the end never passes the
  ;; column, so the stores stay within a row's room). The row as a commit
  ;; leaves it (w where the column is not listed, u where it is, which its
  ;; replay reads) goes to $dst: the stored row itself to commit, a scratch
  ;; row otherwise (a store in every pair, where a test of a flag was). The
  ;; row scalars at $p: 0 dG, 8 b, 16 wf, 24 w_min, 32 w_max.
  (func (export "lazyRow") (param $u i32) (param $t i32) (param $h i32) (param $h0 i32) (param $real i32) (param $fails i32) (param $cols i32) (param $p i32) (param $dst i32) (result i32)
    (local $DG v128) (local $B v128) (local $WF v128) (local $LO v128) (local $HI v128)
    (local $uv v128) (local $w v128) (local $bad v128)
    (local $jb i32) (local $pairEnd i32) (local $end i32) (local $n i32) (local $bits i32) (local $at i32)
    (local $dg f64) (local $bs f64) (local $wf f64) (local $lo f64) (local $hi f64)
    (local $us f64) (local $ws f64) (local $listed i32)
    (local.set $dg (f64.load (local.get $p)))
    (local.set $bs (f64.load offset=8 (local.get $p)))
    (local.set $wf (f64.load offset=16 (local.get $p)))
    (local.set $lo (f64.load offset=24 (local.get $p)))
    (local.set $hi (f64.load offset=32 (local.get $p)))
    (local.set $DG (f64x2.splat (local.get $dg)))
    (local.set $B (f64x2.splat (local.get $bs)))
    (local.set $WF (f64x2.splat (local.get $wf)))
    (local.set $LO (f64x2.splat (local.get $lo)))
    (local.set $HI (f64x2.splat (local.get $hi)))
    (local.set $end (i32.shl (local.get $cols) (i32.const 3)))
    (local.set $pairEnd (i32.shl (i32.and (local.get $cols) (i32.const -2)) (i32.const 3)))
    (block $done
      (loop $pairs
        (br_if $done (i32.ge_u (local.get $jb) (local.get $pairEnd)))
        (local.set $uv (v128.load (i32.add (local.get $u) (local.get $jb))))
        (local.set $w (f64x2.add
          (f64x2.add (local.get $uv) (f64x2.mul (v128.load (i32.add (local.get $t) (local.get $jb))) (local.get $DG)))
          (f64x2.mul (local.get $WF)
            (f64x2.sub (v128.load (i32.add (local.get $h) (local.get $jb))) (v128.load (i32.add (local.get $h0) (local.get $jb)))))))
        (v128.store (i32.add (local.get $real) (local.get $jb)) (local.get $w))
        (local.set $bad (v128.or
          (f64x2.lt (f64x2.sub (local.get $uv) (local.get $B)) (local.get $LO))
          (f64x2.gt (f64x2.add (local.get $uv) (local.get $B)) (local.get $HI))))
        (v128.store (i32.add (local.get $dst) (local.get $jb)) (v128.bitselect (local.get $uv) (local.get $w) (local.get $bad)))
        (local.set $bits (i64x2.bitmask (local.get $bad)))
        (local.set $at (i32.add (local.get $fails) (i32.shl (local.get $n) (i32.const 2))))
        (i32.store (local.get $at) (i32.shr_u (local.get $jb) (i32.const 3)))
        (local.set $at (i32.add (local.get $at) (i32.shl (i32.and (local.get $bits) (i32.const 1)) (i32.const 2))))
        (i32.store (local.get $at) (i32.add (i32.shr_u (local.get $jb) (i32.const 3)) (i32.const 1)))
        (local.set $n (i32.add (local.get $n) (i32.popcnt (local.get $bits))))
        (local.set $jb (i32.add (local.get $jb) (i32.const 16)))
        (br $pairs)))
    (if (i32.lt_u (local.get $pairEnd) (local.get $end))
      (then
        (local.set $us (f64.load (i32.add (local.get $u) (local.get $pairEnd))))
        (local.set $ws (f64.add
          (f64.add (local.get $us) (f64.mul (f64.load (i32.add (local.get $t) (local.get $pairEnd))) (local.get $dg)))
          (f64.mul (local.get $wf)
            (f64.sub (f64.load (i32.add (local.get $h) (local.get $pairEnd))) (f64.load (i32.add (local.get $h0) (local.get $pairEnd)))))))
        (f64.store (i32.add (local.get $real) (local.get $pairEnd)) (local.get $ws))
        (local.set $listed (i32.or
          (f64.lt (f64.sub (local.get $us) (local.get $bs)) (local.get $lo))
          (f64.gt (f64.add (local.get $us) (local.get $bs)) (local.get $hi))))
        (f64.store (i32.add (local.get $dst) (local.get $pairEnd)) (select (local.get $us) (local.get $ws) (local.get $listed)))
        (i32.store (i32.add (local.get $fails) (i32.shl (local.get $n) (i32.const 2))) (i32.shr_u (local.get $pairEnd) (i32.const 3)))
        (local.set $n (i32.add (local.get $n) (local.get $listed)))))
    (local.get $n))

    ;; MSTDPET's lazy rewards (lazy-rewards.ts reward): a rewarded step's
  ;; columns, g the double at $g: for j < $cols, H[j] = H[j] + g * q[j]
  ;; (H at $h, q at $q), and the step's rows of the history, q into $qRow
  ;; and the new H into $hRow.
  (func (export "lazyReward") (param $q i32) (param $h i32) (param $qRow i32) (param $hRow i32) (param $cols i32) (param $g i32)
    (local $G v128) (local $x v128) (local $y v128) (local $gs f64) (local $xs f64) (local $ys f64)
    (local $jb i32) (local $pairEnd i32) (local $end i32)
    (local.set $gs (f64.load (local.get $g)))
    (local.set $G (f64x2.splat (local.get $gs)))
    (local.set $end (i32.shl (local.get $cols) (i32.const 3)))
    (local.set $pairEnd (i32.shl (i32.and (local.get $cols) (i32.const -2)) (i32.const 3)))
    (block $done
      (loop $pairs
        (br_if $done (i32.ge_u (local.get $jb) (local.get $pairEnd)))
        (local.set $x (v128.load (i32.add (local.get $q) (local.get $jb))))
        (local.set $y (f64x2.add (v128.load (i32.add (local.get $h) (local.get $jb))) (f64x2.mul (local.get $G) (local.get $x))))
        (v128.store (i32.add (local.get $h) (local.get $jb)) (local.get $y))
        (v128.store (i32.add (local.get $qRow) (local.get $jb)) (local.get $x))
        (v128.store (i32.add (local.get $hRow) (local.get $jb)) (local.get $y))
        (local.set $jb (i32.add (local.get $jb) (i32.const 16)))
        (br $pairs)))
    (if (i32.lt_u (local.get $pairEnd) (local.get $end))
      (then
        (local.set $xs (f64.load (i32.add (local.get $q) (local.get $pairEnd))))
        (local.set $ys (f64.add (f64.load (i32.add (local.get $h) (local.get $pairEnd))) (f64.mul (local.get $gs) (local.get $xs))))
        (f64.store (i32.add (local.get $h) (local.get $pairEnd)) (local.get $ys))
        (f64.store (i32.add (local.get $qRow) (local.get $pairEnd)) (local.get $xs))
        (f64.store (i32.add (local.get $hRow) (local.get $pairEnd)) (local.get $ys)))))

  ;; MSTDPET's lazy rewards (lazy-rewards.ts lazyOneJs): one row, its
  ;; stored weights at $u, after one rewarded step with q as at that step:
  ;; dw = g * (T[j] + wf * q[j]), and where dw is not 0 (of either sign), w +
  ;; dw clamped to [w_min, w_max], into $dst (the stored row itself, or a
  ;; scratch row). Scalars at $p as in lazyRow, g where lazyRow has dG.
  (func (export "lazyOne") (param $u i32) (param $t i32) (param $q i32) (param $dst i32) (param $cols i32) (param $p i32)
    (local $G v128) (local $WF v128) (local $LO v128) (local $HI v128) (local $Z v128)
    (local $w v128) (local $d v128)
    (local $jb i32) (local $pairEnd i32) (local $end i32)
    (local $gs f64) (local $ws f64) (local $ds f64) (local $xs f64)
    (local.set $gs (f64.load (local.get $p)))
    (local.set $G (f64x2.splat (local.get $gs)))
    (local.set $WF (f64x2.splat (f64.load offset=16 (local.get $p))))
    (local.set $LO (f64x2.splat (f64.load offset=24 (local.get $p))))
    (local.set $HI (f64x2.splat (f64.load offset=32 (local.get $p))))
    (local.set $end (i32.shl (local.get $cols) (i32.const 3)))
    (local.set $pairEnd (i32.shl (i32.and (local.get $cols) (i32.const -2)) (i32.const 3)))
    (block $done
      (loop $pairs
        (br_if $done (i32.ge_u (local.get $jb) (local.get $pairEnd)))
        (local.set $w (v128.load (i32.add (local.get $u) (local.get $jb))))
        (local.set $d (f64x2.mul (local.get $G)
          (f64x2.add (v128.load (i32.add (local.get $t) (local.get $jb)))
            (f64x2.mul (local.get $WF) (v128.load (i32.add (local.get $q) (local.get $jb)))))))
        ;; pmax(x, lo) is x < lo ? lo : x and pmin(y, hi) is hi < y ? hi : y, the
        ;; JavaScript ternaries; where dw is 0, w as it is (w + 0 would turn -0 into +0).
        (v128.store (i32.add (local.get $dst) (local.get $jb))
          (v128.bitselect (local.get $w)
            (f64x2.pmin (f64x2.pmax (f64x2.add (local.get $w) (local.get $d)) (local.get $LO)) (local.get $HI))
            (f64x2.eq (local.get $d) (local.get $Z))))
        (local.set $jb (i32.add (local.get $jb) (i32.const 16)))
        (br $pairs)))
    (if (i32.lt_u (local.get $pairEnd) (local.get $end))
      (then
        (local.set $ws (f64.load (i32.add (local.get $u) (local.get $pairEnd))))
        (local.set $ds (f64.mul (local.get $gs)
          (f64.add (f64.load (i32.add (local.get $t) (local.get $pairEnd)))
            (f64.mul (f64.load offset=16 (local.get $p)) (f64.load (i32.add (local.get $q) (local.get $pairEnd)))))))
        (local.set $xs (f64.add (local.get $ws) (local.get $ds)))
        (f64.store (i32.add (local.get $dst) (local.get $pairEnd))
          (select (local.get $ws)
            (select (f64.load offset=24 (local.get $p))
              (select (f64.load offset=32 (local.get $p)) (local.get $xs) (f64.gt (local.get $xs) (f64.load offset=32 (local.get $p))))
              (f64.lt (local.get $xs) (f64.load offset=24 (local.get $p))))
            (f64.eq (local.get $ds) (f64.const 0)))))))

  ;; MSTDPET's lazy rewards' replay (lazy-rewards.ts ownBounds and replay).
  ;; First the columns j listed at $fails ($n of them) of one row are tested
  ;; against their own bound: u[j] within b = M * (|T[j] + wf * q0| + 2
  ;; |wf| * (q[j] - q0)) + margin of a bound, q0 = q_0[j] (below), q at $q;
  ;; those that pass keep the weight lazyRow computed, stored with $commit,
  ;; and the rest stay listed, in order. Each of these, step by step over
  ;; $steps rewarded steps, as the dense update goes: from w = u[j],
  ;; dw = g[s] * (T[j] + wf * q_s[j]), and where dw is not 0, w = w + dw
  ;; clamped to [w_min, w_max]. The result goes to $real[j], and with
  ;; $commit, u[j] = w. g[s] at $g + 8 s, q_s[j] at $qAt + $rowBytes s
  ;; + 8 j (a row of q a rewarded step), s from slot $start round a ring
  ;; of $slots. Four columns at a time, in two vectors, as their steps
  ;; share g and every column's walk is a chain of its own; the last group
  ;; repeats its last column in the lanes it lacks (both lanes write the
  ;; same value). Scalars at $p as in lazyRow, and 40 margin, 48 M.
  (func (export "lazyReplay") (param $u i32) (param $t i32) (param $q i32) (param $real i32) (param $fails i32) (param $n i32)
    (param $g i32) (param $qAt i32) (param $rowBytes i32) (param $start i32) (param $slots i32) (param $steps i32) (param $p i32) (param $commit i32)
    (local $WF v128) (local $LO v128) (local $HI v128) (local $Z v128)
    (local $T0 v128) (local $T1 v128) (local $W0 v128) (local $W1 v128) (local $G v128)
    (local $d0 v128) (local $d1 v128) (local $x0 v128) (local $x1 v128) (local $c0 v128) (local $c1 v128)
    (local $k i32) (local $last i32) (local $sb i32)
    (local $j0 i32) (local $j1 i32) (local $j2 i32) (local $j3 i32)
    (local $qa0 i32) (local $qa1 i32) (local $qa2 i32) (local $qa3 i32)
    (local $listed i32) (local $jb i32) (local $qb i32) (local $taken i32) (local $sb0 i32) (local $qb0 i32) (local $gEnd i32)
    (local $wf f64) (local $wf2 f64) (local $lo f64) (local $hi f64) (local $mg f64) (local $ms f64)
    (local $w0 f64) (local $q0 f64) (local $b f64)
    (local.set $wf (f64.load offset=16 (local.get $p)))
    (local.set $lo (f64.load offset=24 (local.get $p)))
    (local.set $hi (f64.load offset=32 (local.get $p)))
    (local.set $mg (f64.load offset=40 (local.get $p)))
    (local.set $ms (f64.load offset=48 (local.get $p)))
    (local.set $wf2 (f64.mul (f64.const 2) (f64.abs (local.get $wf))))
    ;; The history is a ring of $slots: g[s] at $g + 8 s, q_s a row of
    ;; $rowBytes at $qAt + $rowBytes s; the walk starts at slot $start.
    (local.set $sb0 (i32.shl (local.get $start) (i32.const 3)))
    (local.set $qb0 (i32.mul (local.get $start) (local.get $rowBytes)))
    (local.set $gEnd (i32.shl (local.get $slots) (i32.const 3)))
    ;; The listed columns against their own bounds: the list keeps those that fail.
    (local.set $listed (local.get $n))
    (local.set $n (i32.const 0))
    (block $tested
      (loop $test
        (br_if $tested (i32.ge_s (local.get $k) (local.get $listed)))
        (local.set $jb (i32.shl (i32.load (i32.add (local.get $fails) (i32.shl (local.get $k) (i32.const 2)))) (i32.const 3)))
        (local.set $w0 (f64.load (i32.add (local.get $u) (local.get $jb))))
        (local.set $q0 (f64.load (i32.add (i32.add (local.get $qAt) (local.get $qb0)) (local.get $jb))))
        (local.set $b (f64.add
          (f64.mul (local.get $ms)
            (f64.add
              (f64.abs (f64.add (f64.load (i32.add (local.get $t) (local.get $jb))) (f64.mul (local.get $wf) (local.get $q0))))
              (f64.mul (local.get $wf2) (f64.sub (f64.load (i32.add (local.get $q) (local.get $jb))) (local.get $q0)))))
          (local.get $mg)))
        (if (i32.or
              (f64.lt (f64.sub (local.get $w0) (local.get $b)) (local.get $lo))
              (f64.gt (f64.add (local.get $w0) (local.get $b)) (local.get $hi)))
          (then
            (i32.store (i32.add (local.get $fails) (i32.shl (local.get $n) (i32.const 2))) (i32.shr_u (local.get $jb) (i32.const 3)))
            (local.set $n (i32.add (local.get $n) (i32.const 1))))
          (else
            (if (local.get $commit)
              (then
                (f64.store (i32.add (local.get $u) (local.get $jb)) (f64.load (i32.add (local.get $real) (local.get $jb))))))))
        (local.set $k (i32.add (local.get $k) (i32.const 1)))
        (br $test)))
    (local.set $k (i32.const 0))
    (local.set $WF (f64x2.splat (local.get $wf)))
    (local.set $LO (f64x2.splat (local.get $lo)))
    (local.set $HI (f64x2.splat (local.get $hi)))
    (local.set $last (i32.sub (local.get $n) (i32.const 1)))
    (block $done
      (loop $groups
        (br_if $done (i32.ge_s (local.get $k) (local.get $n)))
        ;; The group's columns (the last one again past the list's end), as byte offsets into a row.
        (local.set $j0 (i32.shl (i32.load (i32.add (local.get $fails) (i32.shl (local.get $k) (i32.const 2)))) (i32.const 3)))
        (local.set $j1 (i32.shl (i32.load (i32.add (local.get $fails) (i32.shl
          (select (i32.add (local.get $k) (i32.const 1)) (local.get $last) (i32.lt_s (i32.add (local.get $k) (i32.const 1)) (local.get $n))) (i32.const 2)))) (i32.const 3)))
        (local.set $j2 (i32.shl (i32.load (i32.add (local.get $fails) (i32.shl
          (select (i32.add (local.get $k) (i32.const 2)) (local.get $last) (i32.lt_s (i32.add (local.get $k) (i32.const 2)) (local.get $n))) (i32.const 2)))) (i32.const 3)))
        (local.set $j3 (i32.shl (i32.load (i32.add (local.get $fails) (i32.shl
          (select (i32.add (local.get $k) (i32.const 3)) (local.get $last) (i32.lt_s (i32.add (local.get $k) (i32.const 3)) (local.get $n))) (i32.const 2)))) (i32.const 3)))
        (local.set $T0 (v128.load64_lane 1 (i32.add (local.get $t) (local.get $j1)) (v128.load64_zero (i32.add (local.get $t) (local.get $j0)))))
        (local.set $T1 (v128.load64_lane 1 (i32.add (local.get $t) (local.get $j3)) (v128.load64_zero (i32.add (local.get $t) (local.get $j2)))))
        (local.set $W0 (v128.load64_lane 1 (i32.add (local.get $u) (local.get $j1)) (v128.load64_zero (i32.add (local.get $u) (local.get $j0)))))
        (local.set $W1 (v128.load64_lane 1 (i32.add (local.get $u) (local.get $j3)) (v128.load64_zero (i32.add (local.get $u) (local.get $j2)))))
        ;; q_s[j] at $qAt + j * 8, a row of $rowBytes further each step.
        (local.set $qa0 (i32.add (local.get $qAt) (local.get $j0)))
        (local.set $qa1 (i32.add (local.get $qAt) (local.get $j1)))
        (local.set $qa2 (i32.add (local.get $qAt) (local.get $j2)))
        (local.set $qa3 (i32.add (local.get $qAt) (local.get $j3)))
        (local.set $sb (local.get $sb0))
        (local.set $qb (local.get $qb0))
        (local.set $taken (i32.const 0))
        (block $stepsDone
          (loop $stepLoop
            (br_if $stepsDone (i32.ge_u (local.get $taken) (local.get $steps)))
            (local.set $G (v128.load64_splat (i32.add (local.get $g) (local.get $sb))))
            (local.set $d0 (f64x2.mul (local.get $G) (f64x2.add (local.get $T0) (f64x2.mul (local.get $WF)
              (v128.load64_lane 1 (i32.add (local.get $qa1) (local.get $qb)) (v128.load64_zero (i32.add (local.get $qa0) (local.get $qb))))))))
            (local.set $d1 (f64x2.mul (local.get $G) (f64x2.add (local.get $T1) (f64x2.mul (local.get $WF)
              (v128.load64_lane 1 (i32.add (local.get $qa3) (local.get $qb)) (v128.load64_zero (i32.add (local.get $qa2) (local.get $qb))))))))
            (local.set $x0 (f64x2.add (local.get $W0) (local.get $d0)))
            (local.set $x1 (f64x2.add (local.get $W1) (local.get $d1)))
            ;; pmax(x, lo) is x < lo ? lo : x and pmin(y, hi) is hi < y ? hi : y, the JavaScript ternaries.
            (local.set $c0 (f64x2.pmin (f64x2.pmax (local.get $x0) (local.get $LO)) (local.get $HI)))
            (local.set $c1 (f64x2.pmin (f64x2.pmax (local.get $x1) (local.get $LO)) (local.get $HI)))
            ;; A step that moves it by 0 leaves w as it is (w + 0 would turn -0 into +0).
            (local.set $W0 (v128.bitselect (local.get $W0) (local.get $c0) (f64x2.eq (local.get $d0) (local.get $Z))))
            (local.set $W1 (v128.bitselect (local.get $W1) (local.get $c1) (f64x2.eq (local.get $d1) (local.get $Z))))
            (local.set $taken (i32.add (local.get $taken) (i32.const 1)))
            (local.set $sb (i32.add (local.get $sb) (i32.const 8)))
            (local.set $qb (i32.add (local.get $qb) (local.get $rowBytes)))
            (if (i32.eq (local.get $sb) (local.get $gEnd))
              (then
                (local.set $sb (i32.const 0))
                (local.set $qb (i32.const 0))))
            (br $stepLoop)))
        ;; Lanes in the order j3, j2, j1, j0, so that where a lane repeats a column the stores agree anyway.
        (f64.store (i32.add (local.get $real) (local.get $j3)) (f64x2.extract_lane 1 (local.get $W1)))
        (f64.store (i32.add (local.get $real) (local.get $j2)) (f64x2.extract_lane 0 (local.get $W1)))
        (f64.store (i32.add (local.get $real) (local.get $j1)) (f64x2.extract_lane 1 (local.get $W0)))
        (f64.store (i32.add (local.get $real) (local.get $j0)) (f64x2.extract_lane 0 (local.get $W0)))
        (if (local.get $commit)
          (then
            (f64.store (i32.add (local.get $u) (local.get $j3)) (f64x2.extract_lane 1 (local.get $W1)))
            (f64.store (i32.add (local.get $u) (local.get $j2)) (f64x2.extract_lane 0 (local.get $W1)))
            (f64.store (i32.add (local.get $u) (local.get $j1)) (f64x2.extract_lane 1 (local.get $W0)))
            (f64.store (i32.add (local.get $u) (local.get $j0)) (f64x2.extract_lane 0 (local.get $W0)))))
        (local.set $k (i32.add (local.get $k) (i32.const 4)))
        (br $groups))))

  ;; out[i] = max over j of |m[i][j]| for every row i (weights.ts
  ;; traceRowMaxAll): a bound on a row of MSTDPET's trace for the lazy
  ;; rewards. pmax(mx, a) is mx < a ? a : mx, the JavaScript's comparison.
  (func (export "maxAbsRows") (param $m i32) (param $cols i32) (param $rows i32) (param $out i32)
    (local $i i32) (local $row i32) (local $rowBytes i32)
    (local.set $rowBytes (i32.shl (local.get $cols) (i32.const 3)))
    (local.set $row (local.get $m))
    (block $done
      (loop $each
        (br_if $done (i32.ge_u (local.get $i) (local.get $rows)))
        (f64.store (i32.add (local.get $out) (i32.shl (local.get $i) (i32.const 3))) (call $rowMaxAbs (local.get $row) (local.get $rowBytes)))
        (local.set $row (i32.add (local.get $row) (local.get $rowBytes)))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $each))))

  ;; max |x| over the $bytes / 8 doubles at $row, from 0 up.
  (func $rowMaxAbs (param $row i32) (param $bytes i32) (result f64)
    (local $jb i32) (local $pairEnd i32) (local $mx v128) (local $a f64) (local $b f64)
    (local.set $pairEnd (i32.and (local.get $bytes) (i32.const -16)))
    (block $pairsDone
      (loop $pairs
        (br_if $pairsDone (i32.ge_u (local.get $jb) (local.get $pairEnd)))
        (local.set $mx (f64x2.pmax (local.get $mx) (f64x2.abs (v128.load (i32.add (local.get $row) (local.get $jb))))))
        (local.set $jb (i32.add (local.get $jb) (i32.const 16)))
        (br $pairs)))
    (local.set $a (f64x2.extract_lane 0 (local.get $mx)))
    (local.set $b (f64x2.extract_lane 1 (local.get $mx)))
    (local.set $a (select (local.get $b) (local.get $a) (f64.gt (local.get $b) (local.get $a))))
    (if (i32.lt_u (local.get $pairEnd) (local.get $bytes))
      (then
        (local.set $b (f64.abs (f64.load (i32.add (local.get $row) (local.get $pairEnd)))))
        (local.set $a (select (local.get $b) (local.get $a) (f64.gt (local.get $b) (local.get $a))))))
    (local.get $a))

  ;; m[i][j] += perRow[i] for every row i and each column j listed at
  ;; $colIdx: MSTDPET's trace takes the eligibility of the post spikes'
  ;; columns, a row at a time so the matrix is walked in memory order.
  (func (export "addCols") (param $m i32) (param $rows i32) (param $cols i32) (param $perRow i32) (param $colIdx i32) (param $colCount i32)
    (local $i i32) (local $q i32) (local $a f64) (local $base i32) (local $rowBytes i32) (local $k i32)
    (local.set $rowBytes (i32.shl (local.get $cols) (i32.const 3)))
    (local.set $base (local.get $m))
    (block $done
      (loop $rowsLoop
        (br_if $done (i32.ge_u (local.get $i) (local.get $rows)))
        (local.set $a (f64.load (i32.add (local.get $perRow) (i32.shl (local.get $i) (i32.const 3)))))
        (local.set $q (i32.const 0))
        (block $colsDone
          (loop $colsLoop
            (br_if $colsDone (i32.ge_u (local.get $q) (local.get $colCount)))
            (local.set $k (i32.add (local.get $base)
              (i32.shl (i32.load (i32.add (local.get $colIdx) (i32.shl (local.get $q) (i32.const 2)))) (i32.const 3))))
            (f64.store (local.get $k) (f64.add (f64.load (local.get $k)) (local.get $a)))
            (local.set $q (i32.add (local.get $q) (i32.const 1)))
            (br $colsLoop)))
        (local.set $base (i32.add (local.get $base) (local.get $rowBytes)))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $rowsLoop))))

  ;; Lazy columns of MSTDP and STDP (lazy-columns.ts): applies to one row, at byte $row,
  ;; the pending column operations from its cursor on, each exactly as
  ;; "cross" ($split 1) would have applied it at its step. Row state at $rs:
  ;; f64 p (p_plus at step t), i32 cursor, i32 t. An entry (40 bytes): f64 c,
  ;; f64 scale, f64 1 / next scale, i32 first column (index into the pool,
  ;; which holds each column's byte offset in a row), i32 column count, i32
  ;; step. Between two entries p only decays as decayAddList leaves it for a
  ;; neuron that did not spike: p * d + (a_plus * 0). Adding that zero
  ;; changes no p but a zero's sign, and a p of either zero changes no
  ;; weight (c * p is 0, and the entry is skipped), so the iteration here
  ;; is p * d alone: one multiplication a step on the row's dependency chain.
  (func $flushRow (param $row i32) (param $rs i32) (param $entries i32) (param $entryCount i32) (param $pool i32) (param $rowBytes i32) (param $ahead i32)
    (local $e i32) (local $p f64) (local $t i32) (local $d f64) (local $ea i32) (local $et i32)
    (local $a f64) (local $D v128) (local $S v128) (local $INV v128)
    (local $F v128) (local $LO v128) (local $HI v128) (local $wn v128) (local $wm v128)
    (local $list i32) (local $end i32) (local $quadEnd i32) (local $k0 i32) (local $k1 i32) (local $k2 i32) (local $k3 i32)
    (local.set $e (i32.load offset=8 (local.get $rs)))
    (if (i32.ge_u (local.get $e) (local.get $entryCount)) (then (return)))
    (local.set $p (f64.load (local.get $rs)))
    (local.set $t (i32.load offset=12 (local.get $rs)))
    (local.set $d (f64.load (i32.const 104)))
    ;; p = 0 (of either sign) changes no weight (c * p is 0) and stays 0:
    ;; the row only moves its step to the last entry's. Rows of pre neurons
    ;; that never fire skip the per-step iteration this way.
    (if (f64.eq (local.get $p) (f64.const 0))
      (then
        (local.set $et (i32.load offset=32 (i32.add (local.get $entries) (i32.mul (i32.sub (local.get $entryCount) (i32.const 1)) (i32.const 40)))))
        (if (i32.lt_s (local.get $t) (local.get $et)) (then (local.set $t (local.get $et))))
        (local.set $e (local.get $entryCount))))
    (local.set $F (f64x2.splat (f64.load (i32.const 8))))
    (local.set $LO (f64x2.splat (f64.load (i32.const 16))))
    (local.set $HI (f64x2.splat (f64.load (i32.const 24))))
    (if (local.get $ahead) (then (call $readAhead (local.get $row) (local.get $rs) (local.get $entries) (local.get $entryCount) (local.get $rowBytes))))
    (block $done
      (loop $entriesLoop
        (br_if $done (i32.ge_u (local.get $e) (local.get $entryCount)))
        (local.set $ea (i32.add (local.get $entries) (i32.mul (local.get $e) (i32.const 40))))
        (local.set $et (i32.load offset=32 (local.get $ea)))
        (block $caught
          (loop $decay
            (br_if $caught (i32.ge_s (local.get $t) (local.get $et)))
            (local.set $p (f64.mul (local.get $p) (local.get $d)))
            (local.set $t (i32.add (local.get $t) (i32.const 1)))
            (br $decay)))
        (local.set $a (f64.mul (f64.load (local.get $ea)) (local.get $p)))
        (if (i32.eqz (f64.eq (local.get $a) (f64.const 0)))
          (then
            ;; cross's net change, up - down (a split by sign), is a itself:
            ;; a - 0, or 0 - (-a); taken as it is, without a select on its
            ;; sign, which branches (and mispredicts under MSTDP's rewards of
            ;; either sign).
            (local.set $D (f64x2.splat (local.get $a)))
            (local.set $S (f64x2.splat (f64.load offset=8 (local.get $ea))))
            (local.set $INV (f64x2.splat (f64.load offset=16 (local.get $ea))))
            (local.set $list (i32.add (local.get $pool) (i32.shl (i32.load offset=24 (local.get $ea)) (i32.const 2))))
            (local.set $end (i32.add (local.get $list) (i32.shl (i32.load offset=28 (local.get $ea)) (i32.const 2))))
            ;; Four synapses an iteration (the listed columns are distinct).
            (local.set $quadEnd (i32.add (local.get $list) (i32.and (i32.sub (local.get $end) (local.get $list)) (i32.const -16))))
            ;; Without decay (scale, factor and 1 / next scale all 1) the
            ;; multiplications by 1 change no bit: w + D, clamped.
            (if (i32.and (f64.eq (f64.load offset=8 (local.get $ea)) (f64.const 1))
                  (i32.and (f64.eq (f64.load offset=16 (local.get $ea)) (f64.const 1)) (f64.eq (f64.load (i32.const 8)) (f64.const 1))))
              (then
                (block $unitDone
                  (loop $unit
                    (br_if $unitDone (i32.ge_u (local.get $list) (local.get $quadEnd)))
                    (local.set $k0 (i32.add (local.get $row) (i32.load (local.get $list))))
                    (local.set $k1 (i32.add (local.get $row) (i32.load offset=4 (local.get $list))))
                    (local.set $k2 (i32.add (local.get $row) (i32.load offset=8 (local.get $list))))
                    (local.set $k3 (i32.add (local.get $row) (i32.load offset=12 (local.get $list))))
                    (local.set $wn (f64x2.add (v128.load64_lane 1 (local.get $k1) (v128.load64_zero (local.get $k0))) (local.get $D)))
                    (local.set $wm (f64x2.add (v128.load64_lane 1 (local.get $k3) (v128.load64_zero (local.get $k2))) (local.get $D)))
                    (local.set $wn (f64x2.pmax (f64x2.pmin (local.get $wn) (local.get $HI)) (local.get $LO)))
                    (local.set $wm (f64x2.pmax (f64x2.pmin (local.get $wm) (local.get $HI)) (local.get $LO)))
                    (v128.store64_lane 0 (local.get $k0) (local.get $wn))
                    (v128.store64_lane 1 (local.get $k1) (local.get $wn))
                    (v128.store64_lane 0 (local.get $k2) (local.get $wm))
                    (v128.store64_lane 1 (local.get $k3) (local.get $wm))
                    (local.set $list (i32.add (local.get $list) (i32.const 16)))
                    (br $unit))))
              (else
                (block $quadsDone
                  (loop $quads
                    (br_if $quadsDone (i32.ge_u (local.get $list) (local.get $quadEnd)))
                    (local.set $k0 (i32.add (local.get $row) (i32.load (local.get $list))))
                    (local.set $k1 (i32.add (local.get $row) (i32.load offset=4 (local.get $list))))
                    (local.set $k2 (i32.add (local.get $row) (i32.load offset=8 (local.get $list))))
                    (local.set $k3 (i32.add (local.get $row) (i32.load offset=12 (local.get $list))))
                    (local.set $wn (v128.load64_lane 1 (local.get $k1) (v128.load64_zero (local.get $k0))))
                    (local.set $wm (v128.load64_lane 1 (local.get $k3) (v128.load64_zero (local.get $k2))))
                    (local.set $wn (f64x2.mul (f64x2.add (f64x2.mul (local.get $wn) (local.get $S)) (local.get $D)) (local.get $F)))
                    (local.set $wm (f64x2.mul (f64x2.add (f64x2.mul (local.get $wm) (local.get $S)) (local.get $D)) (local.get $F)))
                    (local.set $wn (f64x2.mul (f64x2.pmax (f64x2.pmin (local.get $wn) (local.get $HI)) (local.get $LO)) (local.get $INV)))
                    (local.set $wm (f64x2.mul (f64x2.pmax (f64x2.pmin (local.get $wm) (local.get $HI)) (local.get $LO)) (local.get $INV)))
                    (v128.store64_lane 0 (local.get $k0) (local.get $wn))
                    (v128.store64_lane 1 (local.get $k1) (local.get $wn))
                    (v128.store64_lane 0 (local.get $k2) (local.get $wm))
                    (v128.store64_lane 1 (local.get $k3) (local.get $wm))
                    (local.set $list (i32.add (local.get $list) (i32.const 16)))
                    (br $quads)))))
            ;; The last one to three: a pair, then one; (w * scale + D) *
            ;; factor, clamped, over the next scale (without decay, w + D
            ;; clamped: the multiplications by 1 change no bit).
            (if (i32.le_u (i32.add (local.get $list) (i32.const 8)) (local.get $end))
              (then
                (local.set $k0 (i32.add (local.get $row) (i32.load (local.get $list))))
                (local.set $k1 (i32.add (local.get $row) (i32.load offset=4 (local.get $list))))
                (local.set $wn (v128.load64_lane 1 (local.get $k1) (v128.load64_zero (local.get $k0))))
                (local.set $wn (f64x2.mul (f64x2.add (f64x2.mul (local.get $wn) (local.get $S)) (local.get $D)) (local.get $F)))
                (local.set $wn (f64x2.mul (f64x2.pmax (f64x2.pmin (local.get $wn) (local.get $HI)) (local.get $LO)) (local.get $INV)))
                (v128.store64_lane 0 (local.get $k0) (local.get $wn))
                (v128.store64_lane 1 (local.get $k1) (local.get $wn))
                (local.set $list (i32.add (local.get $list) (i32.const 8)))))
            (block $tailDone
              (loop $tail
                (br_if $tailDone (i32.ge_u (local.get $list) (local.get $end)))
                (local.set $k0 (i32.add (local.get $row) (i32.load (local.get $list))))
                (local.set $wn (f64x2.mul (f64x2.add (f64x2.mul (v128.load64_zero (local.get $k0)) (local.get $S)) (local.get $D)) (local.get $F)))
                (local.set $wn (f64x2.mul (f64x2.pmax (f64x2.pmin (local.get $wn) (local.get $HI)) (local.get $LO)) (local.get $INV)))
                (v128.store64_lane 0 (local.get $k0) (local.get $wn))
                (local.set $list (i32.add (local.get $list) (i32.const 4)))
                (br $tail)))))
        (local.set $e (i32.add (local.get $e) (i32.const 1)))
        (br $entriesLoop)))
    (f64.store (local.get $rs) (local.get $p))
    (i32.store offset=8 (local.get $rs) (local.get $entryCount))
    (i32.store offset=12 (local.get $rs) (local.get $t)))

  ;; A row (at byte $row, state at $rs) with many pending synapses (half
  ;; as many as its columns or more, p not 0) is read in order before
  ;; $flushRow runs, a load per cache line: the lines stream in, where the
  ;; updates' scattered order would wait for each one (the row of a pre
  ;; neuron that last spiked long ago is far down the cache).
  (func $readAhead (param $row i32) (param $rs i32) (param $entries i32) (param $entryCount i32) (param $rowBytes i32)
    (local $e i32) (local $ea i32) (local $at i32) (local $end i32) (local $sink v128)
    (local.set $e (i32.load offset=8 (local.get $rs)))
    (if (i32.ge_u (local.get $e) (local.get $entryCount)) (then (return)))
    (if (f64.eq (f64.load (local.get $rs)) (f64.const 0)) (then (return)))
    (local.set $ea (i32.add (local.get $entries) (i32.mul (i32.sub (local.get $entryCount) (i32.const 1)) (i32.const 40))))
    (if (i32.lt_u
          (i32.sub (i32.add (i32.load offset=24 (local.get $ea)) (i32.load offset=28 (local.get $ea)))
            (i32.load offset=24 (i32.add (local.get $entries) (i32.mul (local.get $e) (i32.const 40)))))
          (i32.shr_u (local.get $rowBytes) (i32.const 4)))
      (then (return)))
    (local.set $at (local.get $row))
    (local.set $end (i32.add (local.get $row) (local.get $rowBytes)))
    (block $touched
      (loop $touch
        (br_if $touched (i32.ge_u (local.get $at) (local.get $end)))
        (local.set $sink (v128.or (local.get $sink) (v128.load64_zero (local.get $at))))
        (local.set $at (i32.add (local.get $at) (i32.const 64)))
        (br $touch)))
    (local.set $sink (v128.or (local.get $sink) (v128.load64_zero (i32.sub (local.get $end) (i32.const 8)))))
    (v128.store64_lane 0 (i32.const 120) (local.get $sink)))

  ;; $flushRow for each row listed at $rowIdx ($rowCount of them), or, when
  ;; $all, for rows 0 .. $rowCount.
  (func (export "flushRows")
    (param $stored i32) (param $cols i32) (param $rowIdx i32) (param $rowCount i32) (param $all i32)
    (param $rowState i32) (param $entries i32) (param $entryCount i32) (param $pool i32)
    (local $k i32) (local $i i32) (local $rowBytes i32)
    (local.set $rowBytes (i32.shl (local.get $cols) (i32.const 3)))
    ;; The listed rows (a step's few) are all read ahead first, so that
    ;; their lines stream in together; every row (flushAll) one at a time.
    (if (i32.eqz (local.get $all))
      (then
        (block $aheadDone
          (loop $aheadLoop
            (br_if $aheadDone (i32.ge_u (local.get $k) (local.get $rowCount)))
            (local.set $i (i32.load (i32.add (local.get $rowIdx) (i32.shl (local.get $k) (i32.const 2)))))
            (call $readAhead
              (i32.add (local.get $stored) (i32.mul (local.get $i) (local.get $rowBytes)))
              (i32.add (local.get $rowState) (i32.shl (local.get $i) (i32.const 4)))
              (local.get $entries) (local.get $entryCount) (local.get $rowBytes))
            (local.set $k (i32.add (local.get $k) (i32.const 1)))
            (br $aheadLoop)))
        (local.set $k (i32.const 0))))
    (block $done
      (loop $rowsLoop
        (br_if $done (i32.ge_u (local.get $k) (local.get $rowCount)))
        (local.set $i (select (local.get $k)
          (i32.load (i32.add (local.get $rowIdx) (i32.shl (local.get $k) (i32.const 2)))) (local.get $all)))
        (call $flushRow
          (i32.add (local.get $stored) (i32.mul (local.get $i) (local.get $rowBytes)))
          (i32.add (local.get $rowState) (i32.shl (local.get $i) (i32.const 4)))
          (local.get $entries) (local.get $entryCount) (local.get $pool) (local.get $rowBytes) (local.get $all))
        (local.set $k (i32.add (local.get $k) (i32.const 1)))
        (br $rowsLoop))))
)
