;; The loops of a batch (model.md, "Batches") that run once for all its
;; copies: MSTDP's terms of every copy added into the summed matrices, and
;; every copy's delivery. The module runs over its connection's memory, the
;; one weight-kernels.wat runs over (wasm-weights.ts lays it out; the
;; batch's part is described in wasm-batch.ts), so the weights, the summed
;; terms and the copies' vectors are all at hand. The same bits as the
;; JavaScript loops of batch-rules.ts and the per-copy delivery
;; (test/engine-wasm-kernels.test.ts compares them): the same IEEE operations
;; in the same order on every synapse, no fused multiply-add, and a copy's
;; terms added before the next copy's, so the sums keep their order.
;;
;; The batch's offsets are i32s in a header at byte $h (wasm-batch.ts
;; writes them once):
;;    0 up        4 down      8 rows     12 cols      16 copies
;;   20 pPlus    24 pMinus   28 m        32 c (one double per copy)
;;   36 ePreIdx  40 ePreCount 44 ePreMask 48 ePostIdx 52 ePostCount
;;   56 rowMask  60 rowList  64 colMask  68 colList   72 counts (rows, columns touched)
;;   76 stored   80 out      84 spikes
;;   88 uRow     92 dRow     96 colPos  100 colCopyCount  104 colCopies
;;  108 the reduction's factor (a double's address)
;;  112 rowKeep (an i64 per row: all ones while the row is listed, else 0)
;;  116 colKeep (an i64 per column: all ones while the column is listed, else 0)
;;  120 ownerCount, 124 owner (an i32 per row each: while the row is listed,
;;      how many copies have their pre spike there, and the first of them)
;;  128 soleCols, 132 soleCopies (an i32 per column each: the listed columns of
;;      one copy's post spike, as byte offsets in a row, and that copy)
;;  136 multiCols (an i32 per column: the positions in colList of the others)
;;  140 soleC (a double per column: c of soleCopies' copy), 144 soleP (an i32
;;      per column: the byte offset of that copy's p_plus); soleCols,
;;      soleCopies, soleC and soleP have room for one more entry, which repeats
;;      the last when their count is odd
;; A copy's vectors and lists are blocks: copy b's p_plus at pPlus + 8 * b *
;; rows, its eligibility's pre spikes at ePreIdx + 4 * b * rows (ePreCount[b]
;; of them, in copy b's neuron numbers), its pre mask at ePreMask + b * rows;
;; the same by cols for the post side. The weights' scale is the double at
;; byte 0, as for weight-kernels.wat.
(module
  (import "env" "memory" (memory 1))

  ;; Lists $i at $list (the i32 count at $count) unless $mask[$i] is 1 already.
  (func $touch (param $mask i32) (param $list i32) (param $count i32) (param $i i32)
    (local $n i32)
    (if (i32.ne (i32.load8_u (i32.add (local.get $mask) (local.get $i))) (i32.const 1))
      (then
        (i32.store8 (i32.add (local.get $mask) (local.get $i)) (i32.const 1))
        (local.set $n (i32.load (local.get $count)))
        (i32.store (i32.add (local.get $list) (i32.shl (local.get $n) (i32.const 2))) (local.get $i))
        (i32.store (local.get $count) (i32.add (local.get $n) (i32.const 1))))))

  ;; The weight update of one synapse at byte $k under hard bounds with lazy
  ;; decay, from the summed terms: ((w * scale + up) - down) * factor,
  ;; clamped, over the next scale (weight-kernels.wat takeTerms' cells).
  (func $update (param $k i32) (param $u f64) (param $d f64)
    (local $wn f64)
    (local.set $wn (f64.mul
      (f64.sub (f64.add (f64.mul (f64.load (local.get $k)) (f64.load (i32.const 0))) (local.get $u)) (local.get $d))
      (f64.load (i32.const 8))))
    (local.set $wn (select (f64.load (i32.const 24)) (local.get $wn) (f64.gt (local.get $wn) (f64.load (i32.const 24)))))
    (local.set $wn (select (f64.load (i32.const 16)) (local.get $wn) (f64.lt (local.get $wn) (f64.load (i32.const 16)))))
    (f64.store (local.get $k) (f64.mul (local.get $wn) (f64.load (i32.const 32)))))

  ;; The weight update of one synapse from a single term t of one copy: its
  ;; sums are then 0 + t or 0 - t, scaled by the reduction's factor $fs, and
  ;; the weight keeps its bits when both products are 0.
  (func $single (param $k i32) (param $t f64) (param $fs f64)
    (local $up f64) (local $down f64)
    (if (f64.gt (local.get $t) (f64.const 0)) (then (local.set $up (f64.add (local.get $up) (local.get $t)))))
    (if (f64.lt (local.get $t) (f64.const 0)) (then (local.set $down (f64.sub (local.get $down) (local.get $t)))))
    (local.set $up (f64.mul (local.get $up) (local.get $fs)))
    (local.set $down (f64.mul (local.get $down) (local.get $fs)))
    (if (i32.eqz (i32.and (f64.eq (local.get $up) (f64.const 0)) (f64.eq (local.get $down) (f64.const 0))))
      (then (call $update (local.get $k) (local.get $up) (local.get $down)))))

  ;; Step 2 of mstdpUpdate for row $i where one copy, $b, has its pre spike
  ;; (most rows): every synapse of the row that is in no listed column takes
  ;; that copy's term alone, c[b] * p_minus[j], and its sums are 0 + dw or
  ;; 0 - dw: ((w * scale + u) - d) with u = dw * f and d = +0, or u = +0 and
  ;; d = -(dw * f), is w * scale + dw * f, the same bits (x - (+0) is x;
  ;; w * scale + (+0) differs from w * scale only for -0, where dw * f is
  ;; then the sum either way), and the weight keeps its bits where dw * f is
  ;; neither positive nor negative, as where both sums are 0. Two synapses a
  ;; vector, from the weights and p_minus straight, without the rows of sums.
  ;; The listed columns' lanes (colKeep) keep the weight and take every
  ;; copy's terms there in copy order: the owner's (c[b] * (p_plus[i] +
  ;; p_minus[j]) at its own post spikes) and c[x] * p_plus[x][i] of each
  ;; other copy x whose post spike j is.
  (func $ownedRow (param $h i32) (param $i i32) (param $b i32) (param $soleCount i32) (param $multiCount i32) (param $unit i32)
    (local $rows i32) (local $cols i32) (local $copies i32) (local $c i32) (local $pPlus i32) (local $colList i32)
    (local $colCopyCount i32) (local $colCopies i32) (local $colKeep i32) (local $colMask i32)
    (local $soleCols i32) (local $soleCopies i32) (local $multiCols i32)
    (local $rowBytes i32) (local $pairEnd i32) (local $off i32) (local $pm i32) (local $jb i32) (local $q i32) (local $r i32) (local $k i32)
    (local $n i32) (local $list i32) (local $x i32) (local $ownerDone i32)
    (local $j0 i32) (local $j1 i32) (local $a0 i32) (local $a1 i32)
    (local $cb f64) (local $pi f64) (local $fs f64) (local $t f64) (local $up f64) (local $down f64)
    (local $C v128) (local $F v128) (local $S v128) (local $FAC v128) (local $LO v128) (local $HI v128) (local $INV v128)
    (local $dw v128) (local $w v128) (local $wn v128) (local $t1 v128) (local $t2 v128) (local $u v128) (local $d v128)
    (local $soleC i32) (local $soleP i32) (local $at i32) (local $i8 i32) (local $X v128) (local $PI v128) (local $NE v128)
    (local.set $soleC (i32.load offset=140 (local.get $h)))
    (local.set $soleP (i32.load offset=144 (local.get $h)))
    (local.set $soleCols (i32.load offset=128 (local.get $h)))
    (local.set $soleCopies (i32.load offset=132 (local.get $h)))
    (local.set $multiCols (i32.load offset=136 (local.get $h)))
    (local.set $rows (i32.load offset=8 (local.get $h)))
    (local.set $cols (i32.load offset=12 (local.get $h)))
    (local.set $copies (i32.load offset=16 (local.get $h)))
    (local.set $pPlus (i32.load offset=20 (local.get $h)))
    (local.set $c (i32.load offset=32 (local.get $h)))
    (local.set $colMask (i32.load offset=64 (local.get $h)))
    (local.set $colList (i32.load offset=68 (local.get $h)))
    (local.set $colCopyCount (i32.load offset=100 (local.get $h)))
    (local.set $colCopies (i32.load offset=104 (local.get $h)))
    (local.set $fs (f64.load (i32.load offset=108 (local.get $h))))
    (local.set $colKeep (i32.load offset=116 (local.get $h)))
    (local.set $rowBytes (i32.shl (local.get $cols) (i32.const 3)))
    (local.set $pairEnd (i32.shl (i32.and (local.get $cols) (i32.const -2)) (i32.const 3)))
    (local.set $off (i32.add (i32.load offset=76 (local.get $h)) (i32.mul (local.get $i) (local.get $rowBytes))))
    (local.set $cb (f64.load (i32.add (local.get $c) (i32.shl (local.get $b) (i32.const 3)))))
    (local.set $C (f64x2.splat (local.get $cb)))
    (local.set $pm (i32.add (i32.load offset=24 (local.get $h)) (i32.mul (local.get $b) (local.get $rowBytes))))
    (local.set $pi (f64.load (i32.add (local.get $pPlus) (i32.shl (i32.add (i32.mul (local.get $b) (local.get $rows)) (local.get $i)) (i32.const 3)))))
    (local.set $LO (f64x2.splat (f64.load (i32.const 16))))
    (local.set $HI (f64x2.splat (f64.load (i32.const 24))))
    (if (local.get $unit)
      (then
        (block $done
          (loop $pairs
            (br_if $done (i32.ge_u (local.get $jb) (local.get $pairEnd)))
            (local.set $dw (f64x2.mul (local.get $C) (v128.load (i32.add (local.get $pm) (local.get $jb)))))
            (local.set $w (v128.load (i32.add (local.get $off) (local.get $jb))))
            (local.set $wn (f64x2.pmax (f64x2.pmin (f64x2.add (local.get $w) (local.get $dw)) (local.get $HI)) (local.get $LO)))
            (v128.store (i32.add (local.get $off) (local.get $jb))
              (v128.bitselect (local.get $wn) (local.get $w)
                (v128.andnot (f64x2.gt (f64x2.abs (local.get $dw)) (v128.const f64x2 0 0))
                  (v128.load (i32.add (local.get $colKeep) (local.get $jb))))))
            (local.set $jb (i32.add (local.get $jb) (i32.const 16)))
            (br $pairs))))
      (else
        (local.set $F (f64x2.splat (local.get $fs)))
        (local.set $S (f64x2.splat (f64.load (i32.const 0))))
        (local.set $FAC (f64x2.splat (f64.load (i32.const 8))))
        (local.set $INV (f64x2.splat (f64.load (i32.const 32))))
        (block $done
          (loop $pairs
            (br_if $done (i32.ge_u (local.get $jb) (local.get $pairEnd)))
            (local.set $dw (f64x2.mul (f64x2.mul (local.get $C) (v128.load (i32.add (local.get $pm) (local.get $jb)))) (local.get $F)))
            (local.set $w (v128.load (i32.add (local.get $off) (local.get $jb))))
            (local.set $wn (f64x2.mul (f64x2.add (f64x2.mul (local.get $w) (local.get $S)) (local.get $dw)) (local.get $FAC)))
            (local.set $wn (f64x2.mul (f64x2.pmax (f64x2.pmin (local.get $wn) (local.get $HI)) (local.get $LO)) (local.get $INV)))
            (v128.store (i32.add (local.get $off) (local.get $jb))
              (v128.bitselect (local.get $wn) (local.get $w)
                (v128.andnot (f64x2.gt (f64x2.abs (local.get $dw)) (v128.const f64x2 0 0))
                  (v128.load (i32.add (local.get $colKeep) (local.get $jb))))))
            (local.set $jb (i32.add (local.get $jb) (i32.const 16)))
            (br $pairs)))))
    ;; An odd last column, unless listed.
    (if (i32.lt_u (local.get $pairEnd) (local.get $rowBytes))
      (then
        (if (i32.ne (i32.load8_u (i32.add (local.get $colMask) (i32.sub (local.get $cols) (i32.const 1)))) (i32.const 1))
          (then
            (call $single (i32.add (local.get $off) (local.get $pairEnd))
              (f64.mul (local.get $cb) (f64.load (i32.add (local.get $pm) (local.get $pairEnd)))) (local.get $fs))))))
    ;; The columns of one copy's post spike x, two a vector: the owner's
    ;; term and x's, each +0 where it has none (x's where x is the owner; a
    ;; zero term adds nothing either way), so the sums by sign have at most
    ;; two terms each and their order does not matter. An odd last column
    ;; takes both lanes (mstdpUpdate repeats it). Each column's c[x] and p_plus
    ;; block come from the lists mstdpUpdate makes once a step, and which lane
    ;; is the owner's own column from one comparison of the two copies.
    (local.set $S (f64x2.splat (f64.load (i32.const 0))))
    (local.set $FAC (f64x2.splat (f64.load (i32.const 8))))
    (local.set $INV (f64x2.splat (f64.load (i32.const 32))))
    (local.set $F (f64x2.splat (local.get $fs)))
    (local.set $X (i32x4.splat (local.get $b)))
    (local.set $PI (f64x2.splat (local.get $pi)))
    (local.set $i8 (i32.shl (local.get $i) (i32.const 3)))
    (block $solesDone
      (loop $soles
        (br_if $solesDone (i32.ge_u (local.get $k) (local.get $soleCount)))
        (local.set $at (i32.shl (local.get $k) (i32.const 2)))
        (local.set $j0 (i32.load (i32.add (local.get $soleCols) (local.get $at))))
        (local.set $j1 (i32.load offset=4 (i32.add (local.get $soleCols) (local.get $at))))
        ;; All ones in a lane whose column is another copy's spike, zeros where it is the owner's own.
        (local.set $NE (i64x2.extend_low_i32x4_s
          (i32x4.ne (v128.load64_zero (i32.add (local.get $soleCopies) (local.get $at))) (local.get $X))))
        ;; The owner's c[b] * (p_plus[i] + p_minus[j]) at its own post spike, c[b] * (+0 + p_minus[j]) elsewhere
        ;; (p_minus[j] but for the sign of a zero, which then adds nothing either way).
        (local.set $t1 (f64x2.mul (local.get $C)
          (f64x2.add (v128.andnot (local.get $PI) (local.get $NE))
            (v128.load64_lane 1 (i32.add (local.get $pm) (local.get $j1)) (v128.load64_zero (i32.add (local.get $pm) (local.get $j0)))))))
        ;; x's c[x] * p_plus[x][i], +0 where x is the owner.
        (local.set $t2 (v128.and (local.get $NE)
          (f64x2.mul (v128.load (i32.add (local.get $soleC) (i32.shl (local.get $k) (i32.const 3))))
            (v128.load64_lane 1 (i32.add (i32.load offset=4 (i32.add (local.get $soleP) (local.get $at))) (local.get $i8))
              (v128.load64_zero (i32.add (i32.load (i32.add (local.get $soleP) (local.get $at))) (local.get $i8)))))))
        (local.set $u (f64x2.mul (f64x2.add
          (v128.and (local.get $t1) (f64x2.gt (local.get $t1) (v128.const f64x2 0 0)))
          (v128.and (local.get $t2) (f64x2.gt (local.get $t2) (v128.const f64x2 0 0)))) (local.get $F)))
        (local.set $d (f64x2.mul (f64x2.sub
          (f64x2.sub (v128.const f64x2 0 0) (v128.and (local.get $t1) (f64x2.lt (local.get $t1) (v128.const f64x2 0 0))))
          (v128.and (local.get $t2) (f64x2.lt (local.get $t2) (v128.const f64x2 0 0)))) (local.get $F)))
        (local.set $a0 (i32.add (local.get $off) (local.get $j0)))
        (local.set $a1 (i32.add (local.get $off) (local.get $j1)))
        (local.set $w (v128.load64_lane 1 (local.get $a1) (v128.load64_zero (local.get $a0))))
        (local.set $wn (f64x2.mul (f64x2.sub (f64x2.add (f64x2.mul (local.get $w) (local.get $S)) (local.get $u)) (local.get $d)) (local.get $FAC)))
        (local.set $wn (f64x2.mul (f64x2.pmax (f64x2.pmin (local.get $wn) (local.get $HI)) (local.get $LO)) (local.get $INV)))
        (local.set $wn (v128.bitselect (local.get $w) (local.get $wn)
          (v128.and (f64x2.eq (local.get $u) (v128.const f64x2 0 0)) (f64x2.eq (local.get $d) (v128.const f64x2 0 0)))))
        (v128.store64_lane 0 (local.get $a0) (local.get $wn))
        (v128.store64_lane 1 (local.get $a1) (local.get $wn))
        (local.set $k (i32.add (local.get $k) (i32.const 2)))
        (br $soles)))
    (local.set $k (i32.const 0))
    ;; The columns of several copies' post spikes, each synapse's terms in copy order.
    (block $colsDone
      (loop $colsLoop
        (br_if $colsDone (i32.ge_u (local.get $k) (local.get $multiCount)))
        (local.set $q (i32.load (i32.add (local.get $multiCols) (i32.shl (local.get $k) (i32.const 2)))))
        (local.set $jb (i32.shl (i32.load (i32.add (local.get $colList) (i32.shl (local.get $q) (i32.const 2)))) (i32.const 3)))
        (local.set $n (i32.load (i32.add (local.get $colCopyCount) (i32.shl (local.get $q) (i32.const 2)))))
        (local.set $list (i32.add (local.get $colCopies) (i32.shl (i32.mul (local.get $q) (local.get $copies)) (i32.const 2))))
        (local.set $up (f64.const 0))
        (local.set $down (f64.const 0))
        (local.set $ownerDone (i32.const 0))
        (local.set $r (i32.const 0))
        (block $termsDone
          (loop $terms
            (br_if $termsDone (i32.ge_u (local.get $r) (local.get $n)))
            (local.set $x (i32.load (i32.add (local.get $list) (i32.shl (local.get $r) (i32.const 2)))))
            (if (i32.and (i32.eqz (local.get $ownerDone)) (i32.ge_u (local.get $x) (local.get $b)))
              (then
                ;; The owner's term, patched where its own post spike is.
                (local.set $ownerDone (i32.const 1))
                (local.set $t (f64.load (i32.add (local.get $pm) (local.get $jb))))
                (if (i32.eq (local.get $x) (local.get $b)) (then (local.set $t (f64.add (local.get $pi) (local.get $t)))))
                (local.set $t (f64.mul (local.get $cb) (local.get $t)))
                (if (f64.gt (local.get $t) (f64.const 0)) (then (local.set $up (f64.add (local.get $up) (local.get $t)))))
                (if (f64.lt (local.get $t) (f64.const 0)) (then (local.set $down (f64.sub (local.get $down) (local.get $t)))))))
            (if (i32.ne (local.get $x) (local.get $b))
              (then
                (local.set $t (f64.mul (f64.load (i32.add (local.get $c) (i32.shl (local.get $x) (i32.const 3))))
                  (f64.load (i32.add (local.get $pPlus) (i32.shl (i32.add (i32.mul (local.get $x) (local.get $rows)) (local.get $i)) (i32.const 3))))))
                (if (f64.gt (local.get $t) (f64.const 0)) (then (local.set $up (f64.add (local.get $up) (local.get $t)))))
                (if (f64.lt (local.get $t) (f64.const 0)) (then (local.set $down (f64.sub (local.get $down) (local.get $t)))))))
            (local.set $r (i32.add (local.get $r) (i32.const 1)))
            (br $terms)))
        (if (i32.eqz (local.get $ownerDone))
          (then
            (local.set $t (f64.mul (local.get $cb) (f64.load (i32.add (local.get $pm) (local.get $jb)))))
            (if (f64.gt (local.get $t) (f64.const 0)) (then (local.set $up (f64.add (local.get $up) (local.get $t)))))
            (if (f64.lt (local.get $t) (f64.const 0)) (then (local.set $down (f64.sub (local.get $down) (local.get $t)))))))
        (local.set $up (f64.mul (local.get $up) (local.get $fs)))
        (local.set $down (f64.mul (local.get $down) (local.get $fs)))
        (if (i32.eqz (i32.and (f64.eq (local.get $up) (f64.const 0)) (f64.eq (local.get $down) (f64.const 0))))
          (then (call $update (i32.add (local.get $off) (local.get $jb)) (local.get $up) (local.get $down))))
        (local.set $k (i32.add (local.get $k) (i32.const 1)))
        (br $colsLoop))))

  ;; Step 3 of mstdpUpdate for listed column $q when one copy, $b, has its
  ;; post spike there (most columns): on the rows not listed, its term
  ;; c[b] * p_plus[b][i] alone, as w * scale + dw * f (see $ownedRow), two
  ;; rows a vector; a lane of a listed row (rowKeep) keeps the weight.
  (func $soleColumn (param $h i32) (param $q i32) (param $unit i32)
    (local $rows i32) (local $cols i32) (local $b i32) (local $i i32) (local $off i32) (local $k i32)
    (local $rowBytes i32) (local $col i32) (local $rowKeep i32) (local $cb f64) (local $fs f64)
    (local $C v128) (local $F v128) (local $S v128) (local $FAC v128) (local $LO v128) (local $HI v128) (local $INV v128)
    (local $dw v128) (local $w v128) (local $wn v128)
    (local.set $rows (i32.load offset=8 (local.get $h)))
    (local.set $cols (i32.load offset=12 (local.get $h)))
    (local.set $rowBytes (i32.shl (local.get $cols) (i32.const 3)))
    (local.set $fs (f64.load (i32.load offset=108 (local.get $h))))
    (local.set $rowKeep (i32.load offset=112 (local.get $h)))
    (local.set $off (i32.add (i32.load offset=76 (local.get $h))
      (i32.shl (i32.load (i32.add (i32.load offset=68 (local.get $h)) (i32.shl (local.get $q) (i32.const 2)))) (i32.const 3))))
    (local.set $b (i32.load (i32.add (i32.load offset=104 (local.get $h))
      (i32.shl (i32.mul (local.get $q) (i32.load offset=16 (local.get $h))) (i32.const 2)))))
    (local.set $cb (f64.load (i32.add (i32.load offset=32 (local.get $h)) (i32.shl (local.get $b) (i32.const 3)))))
    (local.set $C (f64x2.splat (local.get $cb)))
    (local.set $col (i32.add (i32.load offset=20 (local.get $h)) (i32.shl (i32.mul (local.get $b) (local.get $rows)) (i32.const 3))))
    (local.set $LO (f64x2.splat (f64.load (i32.const 16))))
    (local.set $HI (f64x2.splat (f64.load (i32.const 24))))
    (if (local.get $unit)
      (then
        (block $done
          (loop $pairs
            (br_if $done (i32.gt_u (i32.add (local.get $i) (i32.const 2)) (local.get $rows)))
            (local.set $dw (f64x2.mul (local.get $C) (v128.load (i32.add (local.get $col) (i32.shl (local.get $i) (i32.const 3))))))
            (local.set $k (i32.add (local.get $off) (local.get $rowBytes)))
            (local.set $w (v128.load64_lane 1 (local.get $k) (v128.load64_zero (local.get $off))))
            (local.set $wn (f64x2.pmax (f64x2.pmin (f64x2.add (local.get $w) (local.get $dw)) (local.get $HI)) (local.get $LO)))
            (local.set $wn (v128.bitselect (local.get $wn) (local.get $w)
              (v128.andnot (f64x2.gt (f64x2.abs (local.get $dw)) (v128.const f64x2 0 0))
                (v128.load (i32.add (local.get $rowKeep) (i32.shl (local.get $i) (i32.const 3)))))))
            (v128.store64_lane 0 (local.get $off) (local.get $wn))
            (v128.store64_lane 1 (local.get $k) (local.get $wn))
            (local.set $off (i32.add (local.get $k) (local.get $rowBytes)))
            (local.set $i (i32.add (local.get $i) (i32.const 2)))
            (br $pairs))))
      (else
        (local.set $F (f64x2.splat (local.get $fs)))
        (local.set $S (f64x2.splat (f64.load (i32.const 0))))
        (local.set $FAC (f64x2.splat (f64.load (i32.const 8))))
        (local.set $INV (f64x2.splat (f64.load (i32.const 32))))
        (block $done
          (loop $pairs
            (br_if $done (i32.gt_u (i32.add (local.get $i) (i32.const 2)) (local.get $rows)))
            (local.set $dw (f64x2.mul (f64x2.mul (local.get $C) (v128.load (i32.add (local.get $col) (i32.shl (local.get $i) (i32.const 3))))) (local.get $F)))
            (local.set $k (i32.add (local.get $off) (local.get $rowBytes)))
            (local.set $w (v128.load64_lane 1 (local.get $k) (v128.load64_zero (local.get $off))))
            (local.set $wn (f64x2.mul (f64x2.add (f64x2.mul (local.get $w) (local.get $S)) (local.get $dw)) (local.get $FAC)))
            (local.set $wn (f64x2.mul (f64x2.pmax (f64x2.pmin (local.get $wn) (local.get $HI)) (local.get $LO)) (local.get $INV)))
            (local.set $wn (v128.bitselect (local.get $wn) (local.get $w)
              (v128.andnot (f64x2.gt (f64x2.abs (local.get $dw)) (v128.const f64x2 0 0))
                (v128.load (i32.add (local.get $rowKeep) (i32.shl (local.get $i) (i32.const 3)))))))
            (v128.store64_lane 0 (local.get $off) (local.get $wn))
            (v128.store64_lane 1 (local.get $k) (local.get $wn))
            (local.set $off (i32.add (local.get $k) (local.get $rowBytes)))
            (local.set $i (i32.add (local.get $i) (i32.const 2)))
            (br $pairs)))))
    ;; An odd last row, unless listed.
    (if (i32.lt_u (local.get $i) (local.get $rows))
      (then
        (if (i32.ne (i32.load8_u (i32.add (i32.load offset=56 (local.get $h)) (local.get $i))) (i32.const 1))
          (then
            (call $single (local.get $off)
              (f64.mul (local.get $cb) (f64.load (i32.add (local.get $col) (i32.shl (local.get $i) (i32.const 3))))) (local.get $fs)))))))

  ;; MSTDP's update of a batch under hard bounds with lazy decay, every
  ;; copy b with c[b] = lr[0] * r_b not 0 (batch-rules.ts BatchMstdpRule:
  ;; addTerms, then BatchTerms.apply), without the summed matrices: each
  ;; synapse's terms are summed where it is updated, copy by copy in copy
  ;; order, so the sums are those of adding each copy's into the matrices.
  ;; Copy b's dw = c[b] * e_b: on the rows of its pre spikes e[i][j] =
  ;; p_minus[j], or p_plus[i] + p_minus[j] where post j spiked; on the
  ;; columns of its post spikes, on the other rows, e[i][j] = p_plus[i]. The
  ;; sums up (of the positive dw) and down (of the negative) are scaled by
  ;; the reduction's factor (the double at byte $f), and a synapse whose two
  ;; products are 0 keeps its bits (it only decays, by the scale).
  ;;  1. The rows and columns touched are listed (rowMask/rowList,
  ;;     colMask/colList), and for each column listed the copies whose
  ;;     post spike it is, in copy order (colCopies, B a column); for each
  ;;     row, how many copies have their pre spike there, and the first.
  ;;  2. A row listed for one copy's pre spike (most are) is $ownedRow.
  ;;     Any other takes every copy's terms into a row of sums (uRow,
  ;;     dRow): a copy with its pre spike there its whole row, built in m
  ;;     (c[b] * p_minus, patched at its post spikes' columns) and added two
  ;;     synapses a vector (a lane whose dw is not positive adds +0 to up,
  ;;     one not negative subtracts +0 from down, which keeps their bits:
  ;;     neither is ever -0); any other copy c[b] * p_plus[i] at its post
  ;;     spikes' columns. Then the row is updated from the sums, which are
  ;;     cleared.
  ;;  3. Each column listed, on the rows not listed, two rows a vector: the
  ;;     column's copies' c[b] * p_plus[i], summed by sign, update the
  ;;     weight; a lane of a listed row keeps the weight step 2 left. A
  ;;     column of one copy's post spike (most are) is $soleColumn.
  (func (export "mstdpUpdate") (param $h i32)
    (local $rows i32) (local $cols i32) (local $copies i32)
    (local $pPlus i32) (local $pMinus i32) (local $m i32) (local $c i32)
    (local $ePreIdx i32) (local $ePreCount i32) (local $ePreMask i32) (local $ePostIdx i32) (local $ePostCount i32)
    (local $rowMask i32) (local $rowList i32) (local $colMask i32) (local $colList i32) (local $counts i32)
    (local $stored i32) (local $uRow i32) (local $dRow i32) (local $colPos i32) (local $colCopyCount i32) (local $colCopies i32)
    (local $b i32) (local $cb f64) (local $C v128) (local $pp i32) (local $pm i32) (local $nPre i32) (local $nPost i32)
    (local $preList i32) (local $postList i32) (local $q i32) (local $r i32) (local $i i32) (local $j i32)
    (local $jb i32) (local $k i32) (local $off i32) (local $rowBytes i32) (local $pairEnd i32) (local $n i32)
    (local $rowCount i32) (local $colCount i32) (local $copyList i32)
    (local $pi f64) (local $a f64) (local $us f64) (local $ds f64) (local $fs f64)
    (local $dw v128) (local $u v128) (local $d v128) (local $w v128) (local $wn v128) (local $keep v128)
    (local $F v128) (local $S v128) (local $FAC v128) (local $LO v128) (local $HI v128) (local $INV v128)
    (local $rowKeep i32) (local $colKeep i32) (local $ownerCount i32) (local $owner i32) (local $unit i32)
    (local $soleCols i32) (local $soleCopies i32) (local $multiCols i32) (local $soleCount i32) (local $multiCount i32)
    (local $soleC i32) (local $soleP i32)
    (local.set $rows (i32.load offset=8 (local.get $h)))
    (local.set $cols (i32.load offset=12 (local.get $h)))
    (local.set $copies (i32.load offset=16 (local.get $h)))
    (local.set $pPlus (i32.load offset=20 (local.get $h)))
    (local.set $pMinus (i32.load offset=24 (local.get $h)))
    (local.set $m (i32.load offset=28 (local.get $h)))
    (local.set $c (i32.load offset=32 (local.get $h)))
    (local.set $ePreIdx (i32.load offset=36 (local.get $h)))
    (local.set $ePreCount (i32.load offset=40 (local.get $h)))
    (local.set $ePreMask (i32.load offset=44 (local.get $h)))
    (local.set $ePostIdx (i32.load offset=48 (local.get $h)))
    (local.set $ePostCount (i32.load offset=52 (local.get $h)))
    (local.set $rowMask (i32.load offset=56 (local.get $h)))
    (local.set $rowList (i32.load offset=60 (local.get $h)))
    (local.set $colMask (i32.load offset=64 (local.get $h)))
    (local.set $colList (i32.load offset=68 (local.get $h)))
    (local.set $counts (i32.load offset=72 (local.get $h)))
    (local.set $stored (i32.load offset=76 (local.get $h)))
    (local.set $uRow (i32.load offset=88 (local.get $h)))
    (local.set $dRow (i32.load offset=92 (local.get $h)))
    (local.set $colPos (i32.load offset=96 (local.get $h)))
    (local.set $colCopyCount (i32.load offset=100 (local.get $h)))
    (local.set $colCopies (i32.load offset=104 (local.get $h)))
    (local.set $fs (f64.load (i32.load offset=108 (local.get $h))))
    (local.set $rowKeep (i32.load offset=112 (local.get $h)))
    (local.set $colKeep (i32.load offset=116 (local.get $h)))
    (local.set $ownerCount (i32.load offset=120 (local.get $h)))
    (local.set $owner (i32.load offset=124 (local.get $h)))
    (local.set $soleCols (i32.load offset=128 (local.get $h)))
    (local.set $soleCopies (i32.load offset=132 (local.get $h)))
    (local.set $multiCols (i32.load offset=136 (local.get $h)))
    (local.set $soleC (i32.load offset=140 (local.get $h)))
    (local.set $soleP (i32.load offset=144 (local.get $h)))
    (local.set $F (f64x2.splat (local.get $fs)))
    (local.set $S (f64x2.splat (f64.load (i32.const 0))))
    (local.set $FAC (f64x2.splat (f64.load (i32.const 8))))
    (local.set $LO (f64x2.splat (f64.load (i32.const 16))))
    (local.set $HI (f64x2.splat (f64.load (i32.const 24))))
    (local.set $INV (f64x2.splat (f64.load (i32.const 32))))
    (local.set $rowBytes (i32.shl (local.get $cols) (i32.const 3)))
    (local.set $pairEnd (i32.shl (i32.and (local.get $cols) (i32.const -2)) (i32.const 3)))
    ;; Without decay and with reduction sum, every multiplication by a scale or the factor is by 1, which changes no bit.
    (local.set $unit (i32.and
      (i32.and (f64.eq (f64.load (i32.const 0)) (f64.const 1)) (f64.eq (f64.load (i32.const 8)) (f64.const 1)))
      (i32.and (f64.eq (f64.load (i32.const 32)) (f64.const 1)) (f64.eq (local.get $fs) (f64.const 1)))))
    ;; 1. The lists.
    (block $listed
      (loop $listCopies
        (br_if $listed (i32.ge_u (local.get $b) (local.get $copies)))
        (if (f64.ne (f64.load (i32.add (local.get $c) (i32.shl (local.get $b) (i32.const 3)))) (f64.const 0))
          (then
            (local.set $nPre (i32.load (i32.add (local.get $ePreCount) (i32.shl (local.get $b) (i32.const 2)))))
            (local.set $preList (i32.add (local.get $ePreIdx) (i32.shl (i32.mul (local.get $b) (local.get $rows)) (i32.const 2))))
            (local.set $q (i32.const 0))
            (block $rowsListed
              (loop $listRows
                (br_if $rowsListed (i32.ge_u (local.get $q) (local.get $nPre)))
                (local.set $i (i32.load (i32.add (local.get $preList) (i32.shl (local.get $q) (i32.const 2)))))
                (local.set $k (i32.shl (local.get $i) (i32.const 2)))
                (if (i32.ne (i32.load8_u (i32.add (local.get $rowMask) (local.get $i))) (i32.const 1))
                  (then
                    ;; The row's first copy with its pre spike there: its owner, if no other copy has one.
                    (i32.store (i32.add (local.get $ownerCount) (local.get $k)) (i32.const 0))
                    (i32.store (i32.add (local.get $owner) (local.get $k)) (local.get $b))))
                (i32.store (i32.add (local.get $ownerCount) (local.get $k))
                  (i32.add (i32.load (i32.add (local.get $ownerCount) (local.get $k))) (i32.const 1)))
                (call $touch (local.get $rowMask) (local.get $rowList) (local.get $counts) (local.get $i))
                (local.set $q (i32.add (local.get $q) (i32.const 1)))
                (br $listRows)))
            (local.set $nPost (i32.load (i32.add (local.get $ePostCount) (i32.shl (local.get $b) (i32.const 2)))))
            (local.set $postList (i32.add (local.get $ePostIdx) (i32.shl (i32.mul (local.get $b) (local.get $cols)) (i32.const 2))))
            (local.set $r (i32.const 0))
            (block $colsListed
              (loop $listCols
                (br_if $colsListed (i32.ge_u (local.get $r) (local.get $nPost)))
                (local.set $j (i32.load (i32.add (local.get $postList) (i32.shl (local.get $r) (i32.const 2)))))
                (if (i32.ne (i32.load8_u (i32.add (local.get $colMask) (local.get $j))) (i32.const 1))
                  (then
                    (local.set $n (i32.load offset=4 (local.get $counts)))
                    (i32.store8 (i32.add (local.get $colMask) (local.get $j)) (i32.const 1))
                    (i32.store (i32.add (local.get $colPos) (i32.shl (local.get $j) (i32.const 2))) (local.get $n))
                    (i32.store (i32.add (local.get $colList) (i32.shl (local.get $n) (i32.const 2))) (local.get $j))
                    (i32.store (i32.add (local.get $colCopyCount) (i32.shl (local.get $n) (i32.const 2))) (i32.const 0))
                    (i32.store offset=4 (local.get $counts) (i32.add (local.get $n) (i32.const 1)))))
                (local.set $q (i32.load (i32.add (local.get $colPos) (i32.shl (local.get $j) (i32.const 2)))))
                (local.set $k (i32.add (local.get $colCopyCount) (i32.shl (local.get $q) (i32.const 2))))
                (local.set $n (i32.load (local.get $k)))
                (i32.store (i32.add (local.get $colCopies) (i32.shl (i32.add (i32.mul (local.get $q) (local.get $copies)) (local.get $n)) (i32.const 2)))
                  (local.get $b))
                (i32.store (local.get $k) (i32.add (local.get $n) (i32.const 1)))
                (local.set $r (i32.add (local.get $r) (i32.const 1)))
                (br $listCols)))))
        (local.set $b (i32.add (local.get $b) (i32.const 1)))
        (br $listCopies)))
    (local.set $rowCount (i32.load (local.get $counts)))
    (local.set $colCount (i32.load offset=4 (local.get $counts)))
    ;; The listed rows' lanes, as masks the columns' vectors take whole.
    (local.set $q (i32.const 0))
    (block $kept
      (loop $keepRows
        (br_if $kept (i32.ge_u (local.get $q) (local.get $rowCount)))
        (i64.store (i32.add (local.get $rowKeep) (i32.shl (i32.load (i32.add (local.get $rowList) (i32.shl (local.get $q) (i32.const 2)))) (i32.const 3)))
          (i64.const -1))
        (local.set $q (i32.add (local.get $q) (i32.const 1)))
        (br $keepRows)))
    ;; And the listed columns' lanes, which a row of one owner leaves to its columns' own sums;
    ;; the columns of one copy's spike listed with their copy, the others apart.
    (local.set $q (i32.const 0))
    (block $colsKept
      (loop $keepCols
        (br_if $colsKept (i32.ge_u (local.get $q) (local.get $colCount)))
        (local.set $jb (i32.shl (i32.load (i32.add (local.get $colList) (i32.shl (local.get $q) (i32.const 2)))) (i32.const 3)))
        (i64.store (i32.add (local.get $colKeep) (local.get $jb)) (i64.const -1))
        (if (i32.eq (i32.load (i32.add (local.get $colCopyCount) (i32.shl (local.get $q) (i32.const 2)))) (i32.const 1))
          (then
            (i32.store (i32.add (local.get $soleCols) (i32.shl (local.get $soleCount) (i32.const 2))) (local.get $jb))
            (local.set $b (i32.load (i32.add (local.get $colCopies) (i32.shl (i32.mul (local.get $q) (local.get $copies)) (i32.const 2)))))
            (i32.store (i32.add (local.get $soleCopies) (i32.shl (local.get $soleCount) (i32.const 2))) (local.get $b))
            (f64.store (i32.add (local.get $soleC) (i32.shl (local.get $soleCount) (i32.const 3)))
              (f64.load (i32.add (local.get $c) (i32.shl (local.get $b) (i32.const 3)))))
            (i32.store (i32.add (local.get $soleP) (i32.shl (local.get $soleCount) (i32.const 2)))
              (i32.add (local.get $pPlus) (i32.shl (i32.mul (local.get $b) (local.get $rows)) (i32.const 3))))
            (local.set $soleCount (i32.add (local.get $soleCount) (i32.const 1))))
          (else
            (i32.store (i32.add (local.get $multiCols) (i32.shl (local.get $multiCount) (i32.const 2))) (local.get $q))
            (local.set $multiCount (i32.add (local.get $multiCount) (i32.const 1)))))
        (local.set $q (i32.add (local.get $q) (i32.const 1)))
        (br $keepCols)))
    ;; An odd count of them: the last again, so that $ownedRow takes them two at a time.
    (if (i32.and (local.get $soleCount) (i32.const 1))
      (then
        (local.set $k (i32.shl (i32.sub (local.get $soleCount) (i32.const 1)) (i32.const 2)))
        (i32.store offset=4 (i32.add (local.get $soleCols) (local.get $k)) (i32.load (i32.add (local.get $soleCols) (local.get $k))))
        (i32.store offset=4 (i32.add (local.get $soleCopies) (local.get $k)) (i32.load (i32.add (local.get $soleCopies) (local.get $k))))
        (i32.store offset=4 (i32.add (local.get $soleP) (local.get $k)) (i32.load (i32.add (local.get $soleP) (local.get $k))))
        (local.set $k (i32.shl (i32.sub (local.get $soleCount) (i32.const 1)) (i32.const 3)))
        (f64.store offset=8 (i32.add (local.get $soleC) (local.get $k)) (f64.load (i32.add (local.get $soleC) (local.get $k))))))
    ;; 2. The rows listed.
    (local.set $q (i32.const 0))
    (block $rowsDone
      (loop $rowsLoop
        (br_if $rowsDone (i32.ge_u (local.get $q) (local.get $rowCount)))
        (local.set $i (i32.load (i32.add (local.get $rowList) (i32.shl (local.get $q) (i32.const 2)))))
        (if (i32.eq (i32.load (i32.add (local.get $ownerCount) (i32.shl (local.get $i) (i32.const 2)))) (i32.const 1))
          (then
            (call $ownedRow (local.get $h) (local.get $i)
              (i32.load (i32.add (local.get $owner) (i32.shl (local.get $i) (i32.const 2))))
              (local.get $soleCount) (local.get $multiCount) (local.get $unit))
            (local.set $q (i32.add (local.get $q) (i32.const 1)))
            (br $rowsLoop)))
        (local.set $b (i32.const 0))
        (block $termsDone
          (loop $termsLoop
            (br_if $termsDone (i32.ge_u (local.get $b) (local.get $copies)))
            (local.set $cb (f64.load (i32.add (local.get $c) (i32.shl (local.get $b) (i32.const 3)))))
            (if (f64.ne (local.get $cb) (f64.const 0))
              (then
                (local.set $pp (i32.add (local.get $pPlus) (i32.shl (i32.mul (local.get $b) (local.get $rows)) (i32.const 3))))
                (local.set $pm (i32.add (local.get $pMinus) (i32.mul (local.get $b) (local.get $rowBytes))))
                (local.set $nPost (i32.load (i32.add (local.get $ePostCount) (i32.shl (local.get $b) (i32.const 2)))))
                (local.set $postList (i32.add (local.get $ePostIdx) (i32.shl (i32.mul (local.get $b) (local.get $cols)) (i32.const 2))))
                (local.set $pi (f64.load (i32.add (local.get $pp) (i32.shl (local.get $i) (i32.const 3)))))
                (if (i32.eq (i32.load8_u (i32.add (i32.add (local.get $ePreMask) (i32.mul (local.get $b) (local.get $rows))) (local.get $i))) (i32.const 1))
                  (then
                    ;; m = c[b] * p_minus, then c[b] * (p_plus[i] + p_minus[j]) at the post spikes.
                    (local.set $C (f64x2.splat (local.get $cb)))
                    (local.set $jb (i32.const 0))
                    (block $scaled
                      (loop $scale
                        (br_if $scaled (i32.ge_u (local.get $jb) (local.get $pairEnd)))
                        (v128.store (i32.add (local.get $m) (local.get $jb))
                          (f64x2.mul (local.get $C) (v128.load (i32.add (local.get $pm) (local.get $jb)))))
                        (local.set $jb (i32.add (local.get $jb) (i32.const 16)))
                        (br $scale)))
                    (if (i32.lt_u (local.get $pairEnd) (local.get $rowBytes))
                      (then
                        (f64.store (i32.add (local.get $m) (local.get $pairEnd))
                          (f64.mul (local.get $cb) (f64.load (i32.add (local.get $pm) (local.get $pairEnd)))))))
                    (local.set $r (i32.const 0))
                    (block $patched
                      (loop $patch
                        (br_if $patched (i32.ge_u (local.get $r) (local.get $nPost)))
                        (local.set $jb (i32.shl (i32.load (i32.add (local.get $postList) (i32.shl (local.get $r) (i32.const 2)))) (i32.const 3)))
                        (f64.store (i32.add (local.get $m) (local.get $jb))
                          (f64.mul (local.get $cb) (f64.add (local.get $pi) (f64.load (i32.add (local.get $pm) (local.get $jb))))))
                        (local.set $r (i32.add (local.get $r) (i32.const 1)))
                        (br $patch)))
                    (local.set $jb (i32.const 0))
                    (block $pairsDone
                      (loop $pairs
                        (br_if $pairsDone (i32.ge_u (local.get $jb) (local.get $pairEnd)))
                        (local.set $dw (v128.load (i32.add (local.get $m) (local.get $jb))))
                        (v128.store (i32.add (local.get $uRow) (local.get $jb))
                          (f64x2.add (v128.load (i32.add (local.get $uRow) (local.get $jb)))
                            (v128.and (local.get $dw) (f64x2.gt (local.get $dw) (v128.const f64x2 0 0)))))
                        (v128.store (i32.add (local.get $dRow) (local.get $jb))
                          (f64x2.sub (v128.load (i32.add (local.get $dRow) (local.get $jb)))
                            (v128.and (local.get $dw) (f64x2.lt (local.get $dw) (v128.const f64x2 0 0)))))
                        (local.set $jb (i32.add (local.get $jb) (i32.const 16)))
                        (br $pairs)))
                    (if (i32.lt_u (local.get $pairEnd) (local.get $rowBytes))
                      (then
                        (local.set $a (f64.load (i32.add (local.get $m) (local.get $pairEnd))))
                        (if (f64.gt (local.get $a) (f64.const 0))
                          (then
                            (f64.store (i32.add (local.get $uRow) (local.get $pairEnd))
                              (f64.add (f64.load (i32.add (local.get $uRow) (local.get $pairEnd))) (local.get $a)))))
                        (if (f64.lt (local.get $a) (f64.const 0))
                          (then
                            (f64.store (i32.add (local.get $dRow) (local.get $pairEnd))
                              (f64.sub (f64.load (i32.add (local.get $dRow) (local.get $pairEnd))) (local.get $a))))))))
                  (else
                    ;; Copy b's post spikes' columns on this row: c[b] * p_plus[i].
                    (local.set $a (f64.mul (local.get $cb) (local.get $pi)))
                    (local.set $r (i32.const 0))
                    (block $colsDone
                      (loop $colsLoop
                        (br_if $colsDone (i32.ge_u (local.get $r) (local.get $nPost)))
                        (local.set $jb (i32.shl (i32.load (i32.add (local.get $postList) (i32.shl (local.get $r) (i32.const 2)))) (i32.const 3)))
                        (if (f64.gt (local.get $a) (f64.const 0))
                          (then
                            (f64.store (i32.add (local.get $uRow) (local.get $jb))
                              (f64.add (f64.load (i32.add (local.get $uRow) (local.get $jb))) (local.get $a)))))
                        (if (f64.lt (local.get $a) (f64.const 0))
                          (then
                            (f64.store (i32.add (local.get $dRow) (local.get $jb))
                              (f64.sub (f64.load (i32.add (local.get $dRow) (local.get $jb))) (local.get $a)))))
                        (local.set $r (i32.add (local.get $r) (i32.const 1)))
                        (br $colsLoop)))))))
            (local.set $b (i32.add (local.get $b) (i32.const 1)))
            (br $termsLoop)))
        ;; The row from its sums, which are cleared.
        (local.set $off (i32.add (local.get $stored) (i32.mul (local.get $i) (local.get $rowBytes))))
        (local.set $jb (i32.const 0))
        (block $takenDone
          (loop $taken
            (br_if $takenDone (i32.ge_u (local.get $jb) (local.get $pairEnd)))
            (local.set $u (f64x2.mul (v128.load (i32.add (local.get $uRow) (local.get $jb))) (local.get $F)))
            (local.set $d (f64x2.mul (v128.load (i32.add (local.get $dRow) (local.get $jb))) (local.get $F)))
            (v128.store (i32.add (local.get $uRow) (local.get $jb)) (v128.const i64x2 0 0))
            (v128.store (i32.add (local.get $dRow) (local.get $jb)) (v128.const i64x2 0 0))
            (local.set $w (v128.load (i32.add (local.get $off) (local.get $jb))))
            (local.set $wn (f64x2.mul (f64x2.sub (f64x2.add (f64x2.mul (local.get $w) (local.get $S)) (local.get $u)) (local.get $d)) (local.get $FAC)))
            (local.set $wn (f64x2.mul (f64x2.pmax (f64x2.pmin (local.get $wn) (local.get $HI)) (local.get $LO)) (local.get $INV)))
            (v128.store (i32.add (local.get $off) (local.get $jb))
              (v128.bitselect (local.get $w) (local.get $wn)
                (v128.and (f64x2.eq (local.get $u) (v128.const f64x2 0 0)) (f64x2.eq (local.get $d) (v128.const f64x2 0 0)))))
            (local.set $jb (i32.add (local.get $jb) (i32.const 16)))
            (br $taken)))
        (if (i32.lt_u (local.get $pairEnd) (local.get $rowBytes))
          (then
            (local.set $us (f64.mul (f64.load (i32.add (local.get $uRow) (local.get $pairEnd))) (local.get $fs)))
            (local.set $ds (f64.mul (f64.load (i32.add (local.get $dRow) (local.get $pairEnd))) (local.get $fs)))
            (f64.store (i32.add (local.get $uRow) (local.get $pairEnd)) (f64.const 0))
            (f64.store (i32.add (local.get $dRow) (local.get $pairEnd)) (f64.const 0))
            (if (i32.eqz (i32.and (f64.eq (local.get $us) (f64.const 0)) (f64.eq (local.get $ds) (f64.const 0))))
              (then (call $update (i32.add (local.get $off) (local.get $pairEnd)) (local.get $us) (local.get $ds))))))
        (local.set $q (i32.add (local.get $q) (i32.const 1)))
        (br $rowsLoop)))
    ;; 3. The columns listed, on the other rows.
    (local.set $q (i32.const 0))
    (block $columnsDone
      (loop $columnsLoop
        (br_if $columnsDone (i32.ge_u (local.get $q) (local.get $colCount)))
        (local.set $jb (i32.shl (i32.load (i32.add (local.get $colList) (i32.shl (local.get $q) (i32.const 2)))) (i32.const 3)))
        (local.set $n (i32.load (i32.add (local.get $colCopyCount) (i32.shl (local.get $q) (i32.const 2)))))
        (if (i32.eq (local.get $n) (i32.const 1))
          (then
            (call $soleColumn (local.get $h) (local.get $q) (local.get $unit))
            (local.set $q (i32.add (local.get $q) (i32.const 1)))
            (br $columnsLoop)))
        (local.set $copyList (i32.add (local.get $colCopies) (i32.shl (i32.mul (local.get $q) (local.get $copies)) (i32.const 2))))
        (local.set $i (i32.const 0))
        (local.set $off (i32.add (local.get $stored) (local.get $jb)))
        (if (i32.eq (local.get $n) (i32.const 2))
          (then
            ;; Two copies' spikes (most such columns): the same sums as below, two terms in copy order,
            ;; with each copy's factor and p_plus block taken once instead of on every pair of rows.
            (local.set $b (i32.load (local.get $copyList)))
            (local.set $C (f64x2.splat (f64.load (i32.add (local.get $c) (i32.shl (local.get $b) (i32.const 3))))))
            (local.set $pp (i32.add (local.get $pPlus) (i32.shl (i32.mul (local.get $b) (local.get $rows)) (i32.const 3))))
            (local.set $b (i32.load offset=4 (local.get $copyList)))
            (local.set $keep (f64x2.splat (f64.load (i32.add (local.get $c) (i32.shl (local.get $b) (i32.const 3))))))
            (local.set $pm (i32.add (local.get $pPlus) (i32.shl (i32.mul (local.get $b) (local.get $rows)) (i32.const 3))))
            (block $twoDone
              (loop $two
                (br_if $twoDone (i32.gt_u (i32.add (local.get $i) (i32.const 2)) (local.get $rows)))
                (local.set $dw (f64x2.mul (local.get $C) (v128.load (i32.add (local.get $pp) (i32.shl (local.get $i) (i32.const 3))))))
                (local.set $u (f64x2.add (v128.const i64x2 0 0) (v128.and (local.get $dw) (f64x2.gt (local.get $dw) (v128.const f64x2 0 0)))))
                (local.set $d (f64x2.sub (v128.const i64x2 0 0) (v128.and (local.get $dw) (f64x2.lt (local.get $dw) (v128.const f64x2 0 0)))))
                (local.set $dw (f64x2.mul (local.get $keep) (v128.load (i32.add (local.get $pm) (i32.shl (local.get $i) (i32.const 3))))))
                (local.set $u (f64x2.mul (f64x2.add (local.get $u) (v128.and (local.get $dw) (f64x2.gt (local.get $dw) (v128.const f64x2 0 0)))) (local.get $F)))
                (local.set $d (f64x2.mul (f64x2.sub (local.get $d) (v128.and (local.get $dw) (f64x2.lt (local.get $dw) (v128.const f64x2 0 0)))) (local.get $F)))
                (local.set $k (i32.add (local.get $off) (local.get $rowBytes)))
                (local.set $w (v128.load64_lane 1 (local.get $k) (v128.load64_zero (local.get $off))))
                (local.set $wn (f64x2.mul (f64x2.sub (f64x2.add (f64x2.mul (local.get $w) (local.get $S)) (local.get $u)) (local.get $d)) (local.get $FAC)))
                (local.set $wn (f64x2.mul (f64x2.pmax (f64x2.pmin (local.get $wn) (local.get $HI)) (local.get $LO)) (local.get $INV)))
                (local.set $wn (v128.bitselect (local.get $w) (local.get $wn) (v128.or
                  (v128.and (f64x2.eq (local.get $u) (v128.const f64x2 0 0)) (f64x2.eq (local.get $d) (v128.const f64x2 0 0)))
                  (v128.load (i32.add (local.get $rowKeep) (i32.shl (local.get $i) (i32.const 3)))))))
                (v128.store64_lane 0 (local.get $off) (local.get $wn))
                (v128.store64_lane 1 (local.get $k) (local.get $wn))
                (local.set $off (i32.add (local.get $k) (local.get $rowBytes)))
                (local.set $i (i32.add (local.get $i) (i32.const 2)))
                (br $two))))
          (else
            (block $rowPairsDone
              (loop $rowPairs
                (br_if $rowPairsDone (i32.gt_u (i32.add (local.get $i) (i32.const 2)) (local.get $rows)))
                (local.set $u (v128.const i64x2 0 0))
                (local.set $d (v128.const i64x2 0 0))
                (local.set $r (i32.const 0))
                (block $sumsDone
                  (loop $sums
                    (br_if $sumsDone (i32.ge_u (local.get $r) (local.get $n)))
                    (local.set $b (i32.load (i32.add (local.get $copyList) (i32.shl (local.get $r) (i32.const 2)))))
                    (local.set $dw (f64x2.mul (f64x2.splat (f64.load (i32.add (local.get $c) (i32.shl (local.get $b) (i32.const 3)))))
                      (v128.load (i32.add (local.get $pPlus) (i32.shl (i32.add (i32.mul (local.get $b) (local.get $rows)) (local.get $i)) (i32.const 3))))))
                    (local.set $u (f64x2.add (local.get $u) (v128.and (local.get $dw) (f64x2.gt (local.get $dw) (v128.const f64x2 0 0)))))
                    (local.set $d (f64x2.sub (local.get $d) (v128.and (local.get $dw) (f64x2.lt (local.get $dw) (v128.const f64x2 0 0)))))
                    (local.set $r (i32.add (local.get $r) (i32.const 1)))
                    (br $sums)))
                (local.set $u (f64x2.mul (local.get $u) (local.get $F)))
                (local.set $d (f64x2.mul (local.get $d) (local.get $F)))
                (local.set $k (i32.add (local.get $off) (local.get $rowBytes)))
                (local.set $w (v128.load64_lane 1 (local.get $k) (v128.load64_zero (local.get $off))))
                (local.set $wn (f64x2.mul (f64x2.sub (f64x2.add (f64x2.mul (local.get $w) (local.get $S)) (local.get $u)) (local.get $d)) (local.get $FAC)))
                (local.set $wn (f64x2.mul (f64x2.pmax (f64x2.pmin (local.get $wn) (local.get $HI)) (local.get $LO)) (local.get $INV)))
                ;; A listed row's lane (rowKeep all ones) keeps what step 2 wrote.
                (local.set $keep (v128.or
                  (v128.and (f64x2.eq (local.get $u) (v128.const f64x2 0 0)) (f64x2.eq (local.get $d) (v128.const f64x2 0 0)))
                  (v128.load (i32.add (local.get $rowKeep) (i32.shl (local.get $i) (i32.const 3))))))
                (local.set $wn (v128.bitselect (local.get $w) (local.get $wn) (local.get $keep)))
                (v128.store64_lane 0 (local.get $off) (local.get $wn))
                (v128.store64_lane 1 (local.get $k) (local.get $wn))
                (local.set $off (i32.add (local.get $k) (local.get $rowBytes)))
                (local.set $i (i32.add (local.get $i) (i32.const 2)))
                (br $rowPairs)))))
        (if (i32.lt_u (local.get $i) (local.get $rows))
          (then
            (if (i32.ne (i32.load8_u (i32.add (local.get $rowMask) (local.get $i))) (i32.const 1))
              (then
                (local.set $us (f64.const 0))
                (local.set $ds (f64.const 0))
                (local.set $r (i32.const 0))
                (block $lastDone
                  (loop $last
                    (br_if $lastDone (i32.ge_u (local.get $r) (local.get $n)))
                    (local.set $b (i32.load (i32.add (local.get $copyList) (i32.shl (local.get $r) (i32.const 2)))))
                    (local.set $a (f64.mul (f64.load (i32.add (local.get $c) (i32.shl (local.get $b) (i32.const 3))))
                      (f64.load (i32.add (local.get $pPlus) (i32.shl (i32.add (i32.mul (local.get $b) (local.get $rows)) (local.get $i)) (i32.const 3))))))
                    (if (f64.gt (local.get $a) (f64.const 0)) (then (local.set $us (f64.add (local.get $us) (local.get $a)))))
                    (if (f64.lt (local.get $a) (f64.const 0)) (then (local.set $ds (f64.sub (local.get $ds) (local.get $a)))))
                    (local.set $r (i32.add (local.get $r) (i32.const 1)))
                    (br $last)))
                (local.set $us (f64.mul (local.get $us) (local.get $fs)))
                (local.set $ds (f64.mul (local.get $ds) (local.get $fs)))
                (if (i32.eqz (i32.and (f64.eq (local.get $us) (f64.const 0)) (f64.eq (local.get $ds) (f64.const 0))))
                  (then (call $update (local.get $off) (local.get $us) (local.get $ds))))))))
        (local.set $q (i32.add (local.get $q) (i32.const 1)))
        (br $columnsLoop)))
    ;; The lists cleared for the next update.
    (local.set $q (i32.const 0))
    (block $rowsCleared
      (loop $clearRows
        (br_if $rowsCleared (i32.ge_u (local.get $q) (local.get $rowCount)))
        (local.set $i (i32.load (i32.add (local.get $rowList) (i32.shl (local.get $q) (i32.const 2)))))
        (i32.store8 (i32.add (local.get $rowMask) (local.get $i)) (i32.const 0))
        (i64.store (i32.add (local.get $rowKeep) (i32.shl (local.get $i) (i32.const 3))) (i64.const 0))
        (local.set $q (i32.add (local.get $q) (i32.const 1)))
        (br $clearRows)))
    (local.set $q (i32.const 0))
    (block $colsCleared
      (loop $clearCols
        (br_if $colsCleared (i32.ge_u (local.get $q) (local.get $colCount)))
        (local.set $j (i32.load (i32.add (local.get $colList) (i32.shl (local.get $q) (i32.const 2)))))
        (i32.store8 (i32.add (local.get $colMask) (local.get $j)) (i32.const 0))
        (i64.store (i32.add (local.get $colKeep) (i32.shl (local.get $j) (i32.const 3))) (i64.const 0))
        (local.set $q (i32.add (local.get $q) (i32.const 1)))
        (br $clearCols)))
    (i64.store (local.get $counts) (i64.const 0)))

  ;; One p vector of every copy (copy b's $n doubles at $p + 8 * b * $n),
  ;; decayed, and this step's spikes added: p * d + a * s, s 1 at the
  ;; copy's spikes (the $count[b] neurons listed at $idx + 4 * b * $n) and
  ;; 0 elsewhere (what weight-kernels.wat decayAddList does for one copy), with d and a
  ;; the doubles at $params. Every entry first becomes p * d + z, z = a * 0
  ;; (a signed zero: p * d + a * 0 exactly), two a vector without the
  ;; masks; then each spike's entry y takes y + a. That is p * d + a, the
  ;; same bits: y is p * d but where p * d is -0 and z is +0, and then a is
  ;; not -0 (z would be), so +0 + a and -0 + a are the same.
  (func $decaySpiking (param $p i32) (param $n i32) (param $copies i32) (param $idx i32) (param $count i32) (param $params i32)
    (local $k i32) (local $end i32) (local $b i32) (local $q i32) (local $m i32) (local $list i32) (local $block i32)
    (local $a f64) (local $D v128) (local $Z v128)
    (local.set $a (f64.load offset=8 (local.get $params)))
    (local.set $D (f64x2.splat (f64.load (local.get $params))))
    (local.set $Z (f64x2.splat (f64.mul (local.get $a) (f64.const 0))))
    (local.set $end (i32.add (local.get $p) (i32.shl (i32.mul (local.get $n) (local.get $copies)) (i32.const 3))))
    (local.set $k (local.get $p))
    ;; Four entries an iteration, then a last pair.
    (block $foursDone
      (loop $fours
        (br_if $foursDone (i32.gt_u (i32.add (local.get $k) (i32.const 32)) (local.get $end)))
        (v128.store (local.get $k) (f64x2.add (f64x2.mul (v128.load (local.get $k)) (local.get $D)) (local.get $Z)))
        (v128.store offset=16 (local.get $k) (f64x2.add (f64x2.mul (v128.load offset=16 (local.get $k)) (local.get $D)) (local.get $Z)))
        (local.set $k (i32.add (local.get $k) (i32.const 32)))
        (br $fours)))
    (block $pairsDone
      (loop $pairs
        (br_if $pairsDone (i32.gt_u (i32.add (local.get $k) (i32.const 16)) (local.get $end)))
        (v128.store (local.get $k) (f64x2.add (f64x2.mul (v128.load (local.get $k)) (local.get $D)) (local.get $Z)))
        (local.set $k (i32.add (local.get $k) (i32.const 16)))
        (br $pairs)))
    (if (i32.lt_u (local.get $k) (local.get $end))
      (then
        (f64.store (local.get $k)
          (f64.add (f64.mul (f64.load (local.get $k)) (f64.load (local.get $params))) (f64x2.extract_lane 0 (local.get $Z))))))
    (block $copiesDone
      (loop $copiesLoop
        (br_if $copiesDone (i32.ge_u (local.get $b) (local.get $copies)))
        (local.set $m (i32.load (i32.add (local.get $count) (i32.shl (local.get $b) (i32.const 2)))))
        (local.set $list (i32.add (local.get $idx) (i32.shl (i32.mul (local.get $b) (local.get $n)) (i32.const 2))))
        (local.set $block (i32.add (local.get $p) (i32.shl (i32.mul (local.get $b) (local.get $n)) (i32.const 3))))
        (local.set $q (i32.const 0))
        (block $spikesDone
          (loop $spikes
            (br_if $spikesDone (i32.ge_u (local.get $q) (local.get $m)))
            (local.set $k (i32.add (local.get $block) (i32.shl (i32.load (i32.add (local.get $list) (i32.shl (local.get $q) (i32.const 2)))) (i32.const 3))))
            (f64.store (local.get $k) (f64.add (f64.load (local.get $k)) (local.get $a)))
            (local.set $q (i32.add (local.get $q) (i32.const 1)))
            (br $spikes)))
        (local.set $b (i32.add (local.get $b) (i32.const 1)))
        (br $copiesLoop))))

  ;; Every copy's p vectors decayed, and this step's spikes added (batch-rules.ts
  ;; BatchMstdpRule.advance), in one call: p_plus with the eligibility's pre
  ;; spikes, (d, a) at $plus; p_minus with its post spikes, (d, a) at $minus.
  (func (export "decayCopies") (param $h i32) (param $plus i32) (param $minus i32)
    (local $copies i32)
    (local.set $copies (i32.load offset=16 (local.get $h)))
    (call $decaySpiking (i32.load offset=20 (local.get $h)) (i32.load offset=8 (local.get $h)) (local.get $copies)
      (i32.load offset=36 (local.get $h)) (i32.load offset=40 (local.get $h)) (local.get $plus))
    (call $decaySpiking (i32.load offset=24 (local.get $h)) (i32.load offset=12 (local.get $h)) (local.get $copies)
      (i32.load offset=48 (local.get $h)) (i32.load offset=52 (local.get $h)) (local.get $minus)))

  ;; Every copy's delivery in one call: out[b][j] += stored[i][j] * scale for
  ;; each spike listed at spikes ($count of them), neuron i of copy b given
  ;; as b * rows + i, copy by copy in list order: each out[b][j] takes its
  ;; additions in the order of copy b's own delivery (weight-kernels.wat
  ;; deliver), so the sums are the same bits.
  ;; With $fresh, out is zeroed first (the post population's input had
  ;; nothing else this step), sparing the caller a copy of zeros in.
  (func (export "deliverCopies") (param $h i32) (param $count i32) (param $fresh i32)
    (local $rows i32) (local $cols i32) (local $stored i32) (local $out i32) (local $spikes i32)
    (local $scale f64) (local $S v128) (local $rowBytes i32) (local $pairEnd i32)
    (local $k i32) (local $g i32) (local $b i32) (local $row i32) (local $o i32) (local $jb i32)
    (local.set $rows (i32.load offset=8 (local.get $h)))
    (local.set $cols (i32.load offset=12 (local.get $h)))
    (local.set $stored (i32.load offset=76 (local.get $h)))
    (local.set $out (i32.load offset=80 (local.get $h)))
    (local.set $spikes (i32.load offset=84 (local.get $h)))
    (if (local.get $fresh)
      (then (memory.fill (local.get $out) (i32.const 0)
        (i32.shl (i32.mul (i32.load offset=16 (local.get $h)) (local.get $cols)) (i32.const 3)))))
    (local.set $scale (f64.load (i32.const 0)))
    (local.set $S (f64x2.splat (local.get $scale)))
    (local.set $rowBytes (i32.shl (local.get $cols) (i32.const 3)))
    (local.set $pairEnd (i32.shl (i32.and (local.get $cols) (i32.const -2)) (i32.const 3)))
    (block $done
      (loop $spikesLoop
        (br_if $done (i32.ge_u (local.get $k) (local.get $count)))
        (local.set $g (i32.load (i32.add (local.get $spikes) (i32.shl (local.get $k) (i32.const 2)))))
        (local.set $b (i32.div_u (local.get $g) (local.get $rows)))
        (local.set $row (i32.add (local.get $stored)
          (i32.mul (i32.sub (local.get $g) (i32.mul (local.get $b) (local.get $rows))) (local.get $rowBytes))))
        (local.set $o (i32.add (local.get $out) (i32.mul (local.get $b) (local.get $rowBytes))))
        (local.set $jb (i32.const 0))
        (block $pairsDone
          (loop $pairs
            (br_if $pairsDone (i32.ge_u (local.get $jb) (local.get $pairEnd)))
            (v128.store (i32.add (local.get $o) (local.get $jb))
              (f64x2.add (v128.load (i32.add (local.get $o) (local.get $jb)))
                (f64x2.mul (v128.load (i32.add (local.get $row) (local.get $jb))) (local.get $S))))
            (local.set $jb (i32.add (local.get $jb) (i32.const 16)))
            (br $pairs)))
        (if (i32.lt_u (local.get $pairEnd) (local.get $rowBytes))
          (then
            (f64.store (i32.add (local.get $o) (local.get $pairEnd))
              (f64.add (f64.load (i32.add (local.get $o) (local.get $pairEnd)))
                (f64.mul (f64.load (i32.add (local.get $row) (local.get $pairEnd))) (local.get $scale))))))
        (local.set $k (i32.add (local.get $k) (i32.const 1)))
        (br $spikesLoop))))
)
