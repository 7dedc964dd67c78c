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

  ;; MSTDP's step 1 for every copy b with c[b] = lr[0] * r_b not 0: dw =
  ;; c[b] * e_b added to up where positive and subtracted from down where
  ;; negative (batch-rules.ts BatchMstdpRule.addTerms), and the rows and
  ;; columns touched listed. The rows of copy b's pre spikes: e[i][j] =
  ;; p_minus[j], or p_plus[i] + p_minus[j] where post j spiked, built in
  ;; m (a row of c[b] * p_minus, patched at the post spikes' columns for
  ;; the row and put back after it), two synapses a vector; a lane whose dw
  ;; is not positive adds +0 to up, one not negative subtracts +0 from down,
  ;; which leaves their bits (neither is ever -0). Then the columns of copy
  ;; b's post spikes on the rows of neurons that did not spike: e[i][j] =
  ;; p_plus[i], a row at a time so the matrices are walked in memory order.
  (func (export "mstdpTerms") (param $h i32)
    (local $up i32) (local $down i32) (local $rows i32) (local $cols i32) (local $copies i32)
    (local $pPlus i32) (local $pMinus i32) (local $m i32) (local $c i32)
    (local $ePreIdx i32) (local $ePreCount i32) (local $ePreMask i32) (local $ePostIdx i32) (local $ePostCount i32)
    (local $rowMask i32) (local $rowList i32) (local $colMask i32) (local $colList i32) (local $counts i32)
    (local $b i32) (local $cb f64) (local $C v128) (local $pp i32) (local $pm i32) (local $nPre i32) (local $nPost i32)
    (local $preList i32) (local $postList i32) (local $preMask i32) (local $q i32) (local $r i32) (local $i i32)
    (local $jb i32) (local $kb i32) (local $off i32) (local $rowBytes i32) (local $pairEnd i32)
    (local $pi f64) (local $a f64) (local $ds f64) (local $dw v128)
    (local.set $up (i32.load (local.get $h)))
    (local.set $down (i32.load offset=4 (local.get $h)))
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
    (local.set $rowBytes (i32.shl (local.get $cols) (i32.const 3)))
    (local.set $pairEnd (i32.shl (i32.and (local.get $cols) (i32.const -2)) (i32.const 3)))
    (block $copiesDone
      (loop $copiesLoop
        (br_if $copiesDone (i32.ge_u (local.get $b) (local.get $copies)))
        (local.set $cb (f64.load (i32.add (local.get $c) (i32.shl (local.get $b) (i32.const 3)))))
        (if (f64.ne (local.get $cb) (f64.const 0))
          (then
            (local.set $pp (i32.add (local.get $pPlus) (i32.shl (i32.mul (local.get $b) (local.get $rows)) (i32.const 3))))
            (local.set $pm (i32.add (local.get $pMinus) (i32.mul (local.get $b) (local.get $rowBytes))))
            (local.set $nPre (i32.load (i32.add (local.get $ePreCount) (i32.shl (local.get $b) (i32.const 2)))))
            (local.set $nPost (i32.load (i32.add (local.get $ePostCount) (i32.shl (local.get $b) (i32.const 2)))))
            (local.set $preList (i32.add (local.get $ePreIdx) (i32.shl (i32.mul (local.get $b) (local.get $rows)) (i32.const 2))))
            (local.set $postList (i32.add (local.get $ePostIdx) (i32.shl (i32.mul (local.get $b) (local.get $cols)) (i32.const 2))))
            (local.set $preMask (i32.add (local.get $ePreMask) (i32.mul (local.get $b) (local.get $rows))))
            (if (i32.gt_u (local.get $nPre) (i32.const 0))
              (then
                ;; m = c[b] * p_minus of copy b
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
                (local.set $q (i32.const 0))
                (block $rowsDone
                  (loop $rowsLoop
                    (br_if $rowsDone (i32.ge_u (local.get $q) (local.get $nPre)))
                    (local.set $i (i32.load (i32.add (local.get $preList) (i32.shl (local.get $q) (i32.const 2)))))
                    (local.set $pi (f64.load (i32.add (local.get $pp) (i32.shl (local.get $i) (i32.const 3)))))
                    (local.set $r (i32.const 0))
                    (block $patched
                      (loop $patch
                        (br_if $patched (i32.ge_u (local.get $r) (local.get $nPost)))
                        (local.set $jb (i32.shl (i32.load (i32.add (local.get $postList) (i32.shl (local.get $r) (i32.const 2)))) (i32.const 3)))
                        (f64.store (i32.add (local.get $m) (local.get $jb))
                          (f64.mul (local.get $cb) (f64.add (local.get $pi) (f64.load (i32.add (local.get $pm) (local.get $jb))))))
                        (local.set $r (i32.add (local.get $r) (i32.const 1)))
                        (br $patch)))
                    (local.set $off (i32.mul (local.get $i) (local.get $rowBytes)))
                    (local.set $jb (i32.const 0))
                    (block $pairsDone
                      (loop $pairs
                        (br_if $pairsDone (i32.ge_u (local.get $jb) (local.get $pairEnd)))
                        (local.set $dw (v128.load (i32.add (local.get $m) (local.get $jb))))
                        (local.set $kb (i32.add (local.get $off) (local.get $jb)))
                        (v128.store (i32.add (local.get $up) (local.get $kb))
                          (f64x2.add (v128.load (i32.add (local.get $up) (local.get $kb)))
                            (v128.and (local.get $dw) (f64x2.gt (local.get $dw) (v128.const f64x2 0 0)))))
                        (v128.store (i32.add (local.get $down) (local.get $kb))
                          (f64x2.sub (v128.load (i32.add (local.get $down) (local.get $kb)))
                            (v128.and (local.get $dw) (f64x2.lt (local.get $dw) (v128.const f64x2 0 0)))))
                        (local.set $jb (i32.add (local.get $jb) (i32.const 16)))
                        (br $pairs)))
                    (if (i32.lt_u (local.get $pairEnd) (local.get $rowBytes))
                      (then
                        (local.set $ds (f64.load (i32.add (local.get $m) (local.get $pairEnd))))
                        (local.set $kb (i32.add (local.get $off) (local.get $pairEnd)))
                        (if (f64.gt (local.get $ds) (f64.const 0))
                          (then
                            (f64.store (i32.add (local.get $up) (local.get $kb))
                              (f64.add (f64.load (i32.add (local.get $up) (local.get $kb))) (local.get $ds)))))
                        (if (f64.lt (local.get $ds) (f64.const 0))
                          (then
                            (f64.store (i32.add (local.get $down) (local.get $kb))
                              (f64.sub (f64.load (i32.add (local.get $down) (local.get $kb))) (local.get $ds)))))))
                    (local.set $r (i32.const 0))
                    (block $restored
                      (loop $restore
                        (br_if $restored (i32.ge_u (local.get $r) (local.get $nPost)))
                        (local.set $jb (i32.shl (i32.load (i32.add (local.get $postList) (i32.shl (local.get $r) (i32.const 2)))) (i32.const 3)))
                        (f64.store (i32.add (local.get $m) (local.get $jb))
                          (f64.mul (local.get $cb) (f64.load (i32.add (local.get $pm) (local.get $jb)))))
                        (local.set $r (i32.add (local.get $r) (i32.const 1)))
                        (br $restore)))
                    (call $touch (local.get $rowMask) (local.get $rowList) (local.get $counts) (local.get $i))
                    (local.set $q (i32.add (local.get $q) (i32.const 1)))
                    (br $rowsLoop)))))
            (if (i32.gt_u (local.get $nPost) (i32.const 0))
              (then
                (local.set $i (i32.const 0))
                (local.set $off (i32.const 0))
                (block $colRowsDone
                  (loop $colRows
                    (br_if $colRowsDone (i32.ge_u (local.get $i) (local.get $rows)))
                    (if (i32.ne (i32.load8_u (i32.add (local.get $preMask) (local.get $i))) (i32.const 1))
                      (then
                        (local.set $a (f64.mul (local.get $cb) (f64.load (i32.add (local.get $pp) (i32.shl (local.get $i) (i32.const 3))))))
                        (if (f64.gt (local.get $a) (f64.const 0))
                          (then
                            (local.set $r (i32.const 0))
                            (block $upDone
                              (loop $upLoop
                                (br_if $upDone (i32.ge_u (local.get $r) (local.get $nPost)))
                                (local.set $kb (i32.add (i32.add (local.get $up) (local.get $off))
                                  (i32.shl (i32.load (i32.add (local.get $postList) (i32.shl (local.get $r) (i32.const 2)))) (i32.const 3))))
                                (f64.store (local.get $kb) (f64.add (f64.load (local.get $kb)) (local.get $a)))
                                (local.set $r (i32.add (local.get $r) (i32.const 1)))
                                (br $upLoop)))))
                        (if (f64.lt (local.get $a) (f64.const 0))
                          (then
                            (local.set $r (i32.const 0))
                            (block $downDone
                              (loop $downLoop
                                (br_if $downDone (i32.ge_u (local.get $r) (local.get $nPost)))
                                (local.set $kb (i32.add (i32.add (local.get $down) (local.get $off))
                                  (i32.shl (i32.load (i32.add (local.get $postList) (i32.shl (local.get $r) (i32.const 2)))) (i32.const 3))))
                                (f64.store (local.get $kb) (f64.sub (f64.load (local.get $kb)) (local.get $a)))
                                (local.set $r (i32.add (local.get $r) (i32.const 1)))
                                (br $downLoop)))))))
                    (local.set $off (i32.add (local.get $off) (local.get $rowBytes)))
                    (local.set $i (i32.add (local.get $i) (i32.const 1)))
                    (br $colRows)))
                (local.set $r (i32.const 0))
                (block $touched
                  (loop $touchCols
                    (br_if $touched (i32.ge_u (local.get $r) (local.get $nPost)))
                    (call $touch (local.get $colMask) (local.get $colList) (i32.add (local.get $counts) (i32.const 4))
                      (i32.load (i32.add (local.get $postList) (i32.shl (local.get $r) (i32.const 2)))))
                    (local.set $r (i32.add (local.get $r) (i32.const 1)))
                    (br $touchCols)))))))
        (local.set $b (i32.add (local.get $b) (i32.const 1)))
        (br $copiesLoop))))

  ;; Every copy's delivery in one call: out[b][j] += stored[i][j] * scale for
  ;; each spike listed at spikes ($count of them), neuron i of copy b given
  ;; as b * rows + i, copy by copy in list order: each out[b][j] takes its
  ;; additions in the order of copy b's own delivery (weight-kernels.wat
  ;; deliver), so the sums are the same bits.
  (func (export "deliverCopies") (param $h i32) (param $count i32)
    (local $rows i32) (local $cols i32) (local $stored i32) (local $out i32) (local $spikes i32)
    (local $scale f64) (local $S v128) (local $rowBytes i32) (local $pairEnd i32)
    (local $k i32) (local $g i32) (local $b i32) (local $row i32) (local $o i32) (local $jb i32)
    (local.set $rows (i32.load offset=8 (local.get $h)))
    (local.set $cols (i32.load offset=12 (local.get $h)))
    (local.set $stored (i32.load offset=76 (local.get $h)))
    (local.set $out (i32.load offset=80 (local.get $h)))
    (local.set $spikes (i32.load offset=84 (local.get $h)))
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
