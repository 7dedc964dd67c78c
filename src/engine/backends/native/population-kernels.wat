;; The dense LIF step of population.ts (lifDense) in WebAssembly, and the
;; sparse step's catch-up of lagging neurons (catchUpSideBySide). They must give
;; the same bits as the JavaScript loops (test/engine-wasm-population.test.ts
;; checks them): the same IEEE operations in the same order, no fused
;; multiply-add, and the lower bound by compare and select as the JavaScript
;; `if` does it. The trace decays by a factor computed once in JavaScript, so
;; no exp is needed here.
;;
;; Each population instantiates this module over its own memory (layout in
;; wasm-population.ts). Addresses are byte offsets; the memory is at most
;; 2 GiB, so no offset computed here wraps. The parameters are the doubles at
;; byte $params, in the slots of population.ts:
;;   0 threshold  8 rest_pot  16 reset_pot  24 refrac_length  32 R  40 dt
;;   48 dt / tau_s  56 trace decay  64 lower bound (-Infinity for none)
;;   72 additive (1 or 0)  80 trace_scale
(module
  (import "env" "memory" (memory 1))

  ;; Every neuron through model.md's steps 1-5: state is [v | refrac | traces
  ;; | current], each $n doubles; s holds a byte per neuron, spikeIdx and
  ;; unsettled an i32 each. The previous step's spikes (the first $prevCount
  ;; of spikeIdx) are cleared from s first. With $track, the neurons that end
  ;; away from rest are counted, and listed in unsettled when they are fewer
  ;; than a quarter of the population (the only case where the sparse step,
  ;; which reads the list, may come next: LifPopulation.prefersSparse); the
  ;; list is then made by a second pass over v. Writes [spike count,
  ;; unsettled count] as two i32 at $counts.
  ;;
  ;; Two neurons a vector: the same operations lane by lane, the refractory
  ;; condition and the lower bound by compare and select (pmax(v, lb) is
  ;; defined as v < lb ? lb : v). A pair where one spikes (a few in a
  ;; hundred) leaves the loop for a block that takes a spike's resets by
  ;; compare and select too, and comes back; an odd last neuron goes
  ;; through the scalar body.
  (func (export "lifDense")
    (param $state i32) (param $s i32) (param $spikeIdx i32) (param $prevCount i32) (param $n i32)
    (param $params i32) (param $unsettled i32) (param $track i32) (param $counts i32)
    (local $threshold f64) (local $rest f64) (local $resetPot f64) (local $refracLength f64)
    (local $R f64) (local $dt f64) (local $rate f64) (local $traceDecay f64) (local $lowerBound f64)
    (local $additive f64) (local $traceScale f64)
    (local $k i32) (local $i i32) (local $count i32) (local $u i32)
    (local $nb i32) (local $vAt i32) (local $rAt i32) (local $trAt i32) (local $xAt i32)
    (local $vi f64) (local $r f64) (local $tr f64)
    (local $THR v128) (local $REST v128) (local $RR v128) (local $DT v128) (local $RATE v128) (local $DECAY v128) (local $LB v128)
    (local $V v128) (local $RF v128) (local $AWAY v128) (local $SP v128) (local $TR v128) (local $m i32)
    (local.set $threshold (f64.load (local.get $params)))
    (local.set $rest (f64.load offset=8 (local.get $params)))
    (local.set $resetPot (f64.load offset=16 (local.get $params)))
    (local.set $refracLength (f64.load offset=24 (local.get $params)))
    (local.set $R (f64.load offset=32 (local.get $params)))
    (local.set $dt (f64.load offset=40 (local.get $params)))
    (local.set $rate (f64.load offset=48 (local.get $params)))
    (local.set $traceDecay (f64.load offset=56 (local.get $params)))
    (local.set $lowerBound (f64.load offset=64 (local.get $params)))
    (local.set $additive (f64.load offset=72 (local.get $params)))
    (local.set $traceScale (f64.load offset=80 (local.get $params)))
    (local.set $THR (f64x2.splat (local.get $threshold)))
    (local.set $REST (f64x2.splat (local.get $rest)))
    (local.set $RR (f64x2.splat (local.get $R)))
    (local.set $DT (f64x2.splat (local.get $dt)))
    (local.set $RATE (f64x2.splat (local.get $rate)))
    (local.set $DECAY (f64x2.splat (local.get $traceDecay)))
    (local.set $LB (f64x2.splat (local.get $lowerBound)))
    (block $cleared
      (loop $clear
        (br_if $cleared (i32.ge_u (local.get $k) (local.get $prevCount)))
        (i32.store8 (i32.add (local.get $s) (i32.load (i32.add (local.get $spikeIdx) (i32.shl (local.get $k) (i32.const 2)))))
          (i32.const 0))
        (local.set $k (i32.add (local.get $k) (i32.const 1)))
        (br $clear)))
    (local.set $nb (i32.shl (local.get $n) (i32.const 3)))
    (block $done
      (loop $neurons
        (br_if $done (i32.ge_u (local.get $i) (local.get $n)))
        (local.set $vAt (i32.add (local.get $state) (i32.shl (local.get $i) (i32.const 3))))
        (local.set $rAt (i32.add (local.get $vAt) (local.get $nb)))
        (local.set $trAt (i32.add (local.get $rAt) (local.get $nb)))
        (local.set $xAt (i32.add (local.get $trAt) (local.get $nb)))
        (if (i32.lt_u (i32.add (local.get $i) (i32.const 1)) (local.get $n))
          (then
            ;; Pairs one after another, the four addresses moved along, until a pair with a spike or the end.
            (block $spike
              (loop $pairs
                (local.set $V (v128.load (local.get $vAt)))
                (local.set $RF (v128.load (local.get $rAt)))
                (local.set $V (v128.bitselect
                  (f64x2.add (local.get $V)
                    (f64x2.mul
                      (f64x2.add (f64x2.sub (local.get $REST) (local.get $V)) (f64x2.mul (local.get $RR) (v128.load (local.get $xAt))))
                      (local.get $RATE)))
                  (local.get $V)
                  (f64x2.le (local.get $RF) (v128.const f64x2 0 0))))
                (br_if $spike (i64x2.bitmask (f64x2.ge (local.get $V) (local.get $THR))))
                (v128.store (local.get $rAt) (f64x2.sub (local.get $RF) (local.get $DT)))
                (local.set $V (f64x2.pmax (local.get $V) (local.get $LB)))
                (v128.store (local.get $vAt) (local.get $V))
                (v128.store (local.get $trAt) (f64x2.mul (v128.load (local.get $trAt)) (local.get $DECAY)))
                ;; Each lane away from rest is all ones, -1: subtracted, it counts.
                (local.set $AWAY (i64x2.sub (local.get $AWAY) (f64x2.ne (local.get $V) (local.get $REST))))
                (local.set $i (i32.add (local.get $i) (i32.const 2)))
                (local.set $vAt (i32.add (local.get $vAt) (i32.const 16)))
                (local.set $rAt (i32.add (local.get $rAt) (i32.const 16)))
                (local.set $trAt (i32.add (local.get $trAt) (i32.const 16)))
                (local.set $xAt (i32.add (local.get $xAt) (i32.const 16)))
                (br_if $pairs (i32.lt_u (i32.add (local.get $i) (i32.const 1)) (local.get $n))))
              (br $neurons))
            ;; The pair at $i has a spike: both lanes as the scalar body
            ;; leaves them, a spike's resets by compare and select, and the
            ;; spiking neurons listed in order (each index written, counted
            ;; only if it spiked).
            (local.set $SP (f64x2.ge (local.get $V) (local.get $THR)))
            (local.set $m (i64x2.bitmask (local.get $SP)))
            (local.set $TR (f64x2.mul (v128.load (local.get $trAt)) (local.get $DECAY)))
            (v128.store (local.get $rAt)
              (v128.bitselect (f64x2.splat (local.get $refracLength)) (f64x2.sub (local.get $RF) (local.get $DT)) (local.get $SP)))
            (local.set $V (f64x2.pmax (v128.bitselect (f64x2.splat (local.get $resetPot)) (local.get $V) (local.get $SP)) (local.get $LB)))
            (v128.store (local.get $vAt) (local.get $V))
            (v128.store (local.get $trAt)
              (v128.bitselect
                (select (f64x2.add (local.get $TR) (f64x2.splat (local.get $traceScale))) (f64x2.splat (f64.const 1))
                  (f64.ne (local.get $additive) (f64.const 0)))
                (local.get $TR) (local.get $SP)))
            (local.set $AWAY (i64x2.sub (local.get $AWAY) (f64x2.ne (local.get $V) (local.get $REST))))
            (i32.store (i32.add (local.get $spikeIdx) (i32.shl (local.get $count) (i32.const 2))) (local.get $i))
            (local.set $count (i32.add (local.get $count) (i32.and (local.get $m) (i32.const 1))))
            (i32.store (i32.add (local.get $spikeIdx) (i32.shl (local.get $count) (i32.const 2))) (i32.add (local.get $i) (i32.const 1)))
            (local.set $count (i32.add (local.get $count) (i32.shr_u (local.get $m) (i32.const 1))))
            (i32.store16 (i32.add (local.get $s) (local.get $i))
              (i32.or (i32.and (local.get $m) (i32.const 1)) (i32.shl (i32.and (local.get $m) (i32.const 2)) (i32.const 7))))
            (local.set $i (i32.add (local.get $i) (i32.const 2)))
            (br $neurons)))
        ;; One neuron, as lifDense does it.
        (local.set $vi (f64.load (local.get $vAt)))
        (local.set $r (f64.load (local.get $rAt)))
        (if (f64.le (local.get $r) (f64.const 0))
          (then
            (local.set $vi (f64.add (local.get $vi)
              (f64.mul
                (f64.add (f64.sub (local.get $rest) (local.get $vi)) (f64.mul (local.get $R) (f64.load (local.get $xAt))))
                (local.get $rate))))))
        (local.set $tr (f64.mul (f64.load (local.get $trAt)) (local.get $traceDecay)))
        (if (f64.ge (local.get $vi) (local.get $threshold))
          (then
            (f64.store (local.get $rAt) (local.get $refracLength))
            (local.set $vi (local.get $resetPot))
            (i32.store (i32.add (local.get $spikeIdx) (i32.shl (local.get $count) (i32.const 2))) (local.get $i))
            (local.set $count (i32.add (local.get $count) (i32.const 1)))
            (i32.store8 (i32.add (local.get $s) (local.get $i)) (i32.const 1))
            (local.set $tr
              (select (f64.add (local.get $tr) (local.get $traceScale)) (f64.const 1) (f64.ne (local.get $additive) (f64.const 0)))))
          (else
            (f64.store (local.get $rAt) (f64.sub (local.get $r) (local.get $dt)))))
        (local.set $vi (select (local.get $lowerBound) (local.get $vi) (f64.lt (local.get $vi) (local.get $lowerBound))))
        (f64.store (local.get $vAt) (local.get $vi))
        (f64.store (local.get $trAt) (local.get $tr))
        (local.set $u (i32.add (local.get $u) (f64.ne (local.get $vi) (local.get $rest))))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $neurons)))
    (local.set $u (i32.add (local.get $u)
      (i32.wrap_i64 (i64.add (i64x2.extract_lane 0 (local.get $AWAY)) (i64x2.extract_lane 1 (local.get $AWAY))))))
    (if (i32.and (local.get $track) (i32.lt_u (i32.shl (local.get $u) (i32.const 2)) (local.get $n)))
      (then
        (local.set $u (i32.const 0))
        (local.set $i (i32.const 0))
        (block $listed
          (loop $list
            (br_if $listed (i32.ge_u (local.get $i) (local.get $n)))
            ;; Written unconditionally (u <= i < n), counted only when away from rest.
            (i32.store (i32.add (local.get $unsettled) (i32.shl (local.get $u) (i32.const 2))) (local.get $i))
            (local.set $u (i32.add (local.get $u)
              (f64.ne (f64.load (i32.add (local.get $state) (i32.shl (local.get $i) (i32.const 3)))) (local.get $rest))))
            (local.set $i (i32.add (local.get $i) (i32.const 1)))
            (br $list)))))
    (if (i32.eqz (local.get $track)) (then (local.set $u (i32.const 0))))
    (i32.store (local.get $counts) (local.get $count))
    (i32.store offset=4 (local.get $counts) (local.get $u)))
  ;; Neuron $j's refrac (at byte $at, its trace $nb further) taken from step
  ;; $q to $t, one subtraction and one multiplication a step, in order.
  (func $chain (param $at i32) (param $nb i32) (param $q i32) (param $t i32) (param $dt f64) (param $decay f64)
    (local $r f64) (local $tr f64)
    (if (i32.ge_s (local.get $q) (local.get $t)) (then (return)))
    (local.set $r (f64.load (local.get $at)))
    (local.set $tr (f64.load (i32.add (local.get $at) (local.get $nb))))
    (loop $steps
      (local.set $r (f64.sub (local.get $r) (local.get $dt)))
      (local.set $tr (f64.mul (local.get $tr) (local.get $decay)))
      (local.set $q (i32.add (local.get $q) (i32.const 1)))
      (br_if $steps (i32.lt_s (local.get $q) (local.get $t))))
    (f64.store (local.get $at) (local.get $r))
    (f64.store (i32.add (local.get $at) (local.get $nb)) (local.get $tr)))

  ;; The refrac and trace of the $count neurons listed at $list (i32s)
  ;; brought up to step $t, each from its caughtUp entry (an i32 per neuron
  ;; at $caughtUp), which is then set to $t (population.ts
  ;; catchUpSideBySide): each neuron's missed r - dt and tr * decay, in
  ;; order, the same bits. Each neuron's chain of dependent operations alone
  ;; runs at their latency; here eight neurons go side by side, as four
  ;; vectors of refracs and four of traces, for the steps all eight miss,
  ;; and then each one's own remaining steps. The list is first ordered by
  ;; caughtUp (the neurons are independent, and the caller rebuilds the
  ;; list afterwards), so that the eight of a group lag by about as much and
  ;; their remaining steps are few.
  (func (export "catchUpList")
    (param $state i32) (param $n i32) (param $list i32) (param $count i32) (param $caughtUp i32)
    (param $t i32) (param $dt f64) (param $decay f64)
    (local $k i32) (local $p i32) (local $x i32) (local $key i32) (local $q i32) (local $together i32) (local $j i32)
    (local $nb i32) (local $base i32) (local $g i32) (local $end i32)
    (local $R0 v128) (local $R1 v128) (local $R2 v128) (local $R3 v128)
    (local $T0 v128) (local $T1 v128) (local $T2 v128) (local $T3 v128) (local $DT v128) (local $D v128)
    (local.set $nb (i32.shl (local.get $n) (i32.const 3)))
    (local.set $base (i32.add (local.get $state) (local.get $nb)))
    (local.set $DT (f64x2.splat (local.get $dt)))
    (local.set $D (f64x2.splat (local.get $decay)))
    ;; Insertion sort by caughtUp, ascending (a step's list is a few dozen at most).
    (local.set $k (i32.const 1))
    (block $sorted
      (loop $sort
        (br_if $sorted (i32.ge_u (local.get $k) (local.get $count)))
        (local.set $x (i32.load (i32.add (local.get $list) (i32.shl (local.get $k) (i32.const 2)))))
        (local.set $key (i32.load (i32.add (local.get $caughtUp) (i32.shl (local.get $x) (i32.const 2)))))
        (local.set $p (local.get $k))
        (block $placed
          (loop $shift
            (br_if $placed (i32.eqz (local.get $p)))
            (local.set $j (i32.load (i32.add (local.get $list) (i32.shl (i32.sub (local.get $p) (i32.const 1)) (i32.const 2)))))
            (br_if $placed (i32.le_s (i32.load (i32.add (local.get $caughtUp) (i32.shl (local.get $j) (i32.const 2)))) (local.get $key)))
            (i32.store (i32.add (local.get $list) (i32.shl (local.get $p) (i32.const 2))) (local.get $j))
            (local.set $p (i32.sub (local.get $p) (i32.const 1)))
            (br $shift)))
        (i32.store (i32.add (local.get $list) (i32.shl (local.get $p) (i32.const 2))) (local.get $x))
        (local.set $k (i32.add (local.get $k) (i32.const 1)))
        (br $sort)))
    (local.set $k (i32.const 0))
    (block $groupsDone
      (loop $groups
        (br_if $groupsDone (i32.gt_u (i32.add (local.get $k) (i32.const 8)) (local.get $count)))
        (local.set $g (i32.add (local.get $list) (i32.shl (local.get $k) (i32.const 2))))
        ;; The last of the eight lags least: the steps all eight miss.
        (local.set $together (i32.sub (local.get $t)
          (i32.load (i32.add (local.get $caughtUp) (i32.shl (i32.load offset=28 (local.get $g)) (i32.const 2))))))
        (local.set $R0 (v128.load64_lane 1 (i32.add (local.get $base) (i32.shl (i32.load offset=4 (local.get $g)) (i32.const 3)))
          (v128.load64_zero (i32.add (local.get $base) (i32.shl (i32.load (local.get $g)) (i32.const 3))))))
        (local.set $R1 (v128.load64_lane 1 (i32.add (local.get $base) (i32.shl (i32.load offset=12 (local.get $g)) (i32.const 3)))
          (v128.load64_zero (i32.add (local.get $base) (i32.shl (i32.load offset=8 (local.get $g)) (i32.const 3))))))
        (local.set $R2 (v128.load64_lane 1 (i32.add (local.get $base) (i32.shl (i32.load offset=20 (local.get $g)) (i32.const 3)))
          (v128.load64_zero (i32.add (local.get $base) (i32.shl (i32.load offset=16 (local.get $g)) (i32.const 3))))))
        (local.set $R3 (v128.load64_lane 1 (i32.add (local.get $base) (i32.shl (i32.load offset=28 (local.get $g)) (i32.const 3)))
          (v128.load64_zero (i32.add (local.get $base) (i32.shl (i32.load offset=24 (local.get $g)) (i32.const 3))))))
        (local.set $T0 (v128.load64_lane 1 (i32.add (i32.add (local.get $base) (local.get $nb)) (i32.shl (i32.load offset=4 (local.get $g)) (i32.const 3)))
          (v128.load64_zero (i32.add (i32.add (local.get $base) (local.get $nb)) (i32.shl (i32.load (local.get $g)) (i32.const 3))))))
        (local.set $T1 (v128.load64_lane 1 (i32.add (i32.add (local.get $base) (local.get $nb)) (i32.shl (i32.load offset=12 (local.get $g)) (i32.const 3)))
          (v128.load64_zero (i32.add (i32.add (local.get $base) (local.get $nb)) (i32.shl (i32.load offset=8 (local.get $g)) (i32.const 3))))))
        (local.set $T2 (v128.load64_lane 1 (i32.add (i32.add (local.get $base) (local.get $nb)) (i32.shl (i32.load offset=20 (local.get $g)) (i32.const 3)))
          (v128.load64_zero (i32.add (i32.add (local.get $base) (local.get $nb)) (i32.shl (i32.load offset=16 (local.get $g)) (i32.const 3))))))
        (local.set $T3 (v128.load64_lane 1 (i32.add (i32.add (local.get $base) (local.get $nb)) (i32.shl (i32.load offset=28 (local.get $g)) (i32.const 3)))
          (v128.load64_zero (i32.add (i32.add (local.get $base) (local.get $nb)) (i32.shl (i32.load offset=24 (local.get $g)) (i32.const 3))))))
        (local.set $q (i32.const 0))
        (block $stepsDone
          (loop $steps
            (br_if $stepsDone (i32.ge_s (local.get $q) (local.get $together)))
            (local.set $R0 (f64x2.sub (local.get $R0) (local.get $DT)))
            (local.set $R1 (f64x2.sub (local.get $R1) (local.get $DT)))
            (local.set $R2 (f64x2.sub (local.get $R2) (local.get $DT)))
            (local.set $R3 (f64x2.sub (local.get $R3) (local.get $DT)))
            (local.set $T0 (f64x2.mul (local.get $T0) (local.get $D)))
            (local.set $T1 (f64x2.mul (local.get $T1) (local.get $D)))
            (local.set $T2 (f64x2.mul (local.get $T2) (local.get $D)))
            (local.set $T3 (f64x2.mul (local.get $T3) (local.get $D)))
            (local.set $q (i32.add (local.get $q) (i32.const 1)))
            (br $steps)))
        (v128.store64_lane 0 (i32.add (local.get $base) (i32.shl (i32.load (local.get $g)) (i32.const 3))) (local.get $R0))
        (v128.store64_lane 1 (i32.add (local.get $base) (i32.shl (i32.load offset=4 (local.get $g)) (i32.const 3))) (local.get $R0))
        (v128.store64_lane 0 (i32.add (local.get $base) (i32.shl (i32.load offset=8 (local.get $g)) (i32.const 3))) (local.get $R1))
        (v128.store64_lane 1 (i32.add (local.get $base) (i32.shl (i32.load offset=12 (local.get $g)) (i32.const 3))) (local.get $R1))
        (v128.store64_lane 0 (i32.add (local.get $base) (i32.shl (i32.load offset=16 (local.get $g)) (i32.const 3))) (local.get $R2))
        (v128.store64_lane 1 (i32.add (local.get $base) (i32.shl (i32.load offset=20 (local.get $g)) (i32.const 3))) (local.get $R2))
        (v128.store64_lane 0 (i32.add (local.get $base) (i32.shl (i32.load offset=24 (local.get $g)) (i32.const 3))) (local.get $R3))
        (v128.store64_lane 1 (i32.add (local.get $base) (i32.shl (i32.load offset=28 (local.get $g)) (i32.const 3))) (local.get $R3))
        (v128.store64_lane 0 (i32.add (i32.add (local.get $base) (local.get $nb)) (i32.shl (i32.load (local.get $g)) (i32.const 3))) (local.get $T0))
        (v128.store64_lane 1 (i32.add (i32.add (local.get $base) (local.get $nb)) (i32.shl (i32.load offset=4 (local.get $g)) (i32.const 3))) (local.get $T0))
        (v128.store64_lane 0 (i32.add (i32.add (local.get $base) (local.get $nb)) (i32.shl (i32.load offset=8 (local.get $g)) (i32.const 3))) (local.get $T1))
        (v128.store64_lane 1 (i32.add (i32.add (local.get $base) (local.get $nb)) (i32.shl (i32.load offset=12 (local.get $g)) (i32.const 3))) (local.get $T1))
        (v128.store64_lane 0 (i32.add (i32.add (local.get $base) (local.get $nb)) (i32.shl (i32.load offset=16 (local.get $g)) (i32.const 3))) (local.get $T2))
        (v128.store64_lane 1 (i32.add (i32.add (local.get $base) (local.get $nb)) (i32.shl (i32.load offset=20 (local.get $g)) (i32.const 3))) (local.get $T2))
        (v128.store64_lane 0 (i32.add (i32.add (local.get $base) (local.get $nb)) (i32.shl (i32.load offset=24 (local.get $g)) (i32.const 3))) (local.get $T3))
        (v128.store64_lane 1 (i32.add (i32.add (local.get $base) (local.get $nb)) (i32.shl (i32.load offset=28 (local.get $g)) (i32.const 3))) (local.get $T3))
        ;; Each one's own remaining steps, then its caughtUp.
        (local.set $end (i32.add (local.get $k) (i32.const 8)))
        (block $ownDone
          (loop $own
            (br_if $ownDone (i32.ge_u (local.get $k) (local.get $end)))
            (local.set $j (i32.load (i32.add (local.get $list) (i32.shl (local.get $k) (i32.const 2)))))
            (local.set $p (i32.add (local.get $caughtUp) (i32.shl (local.get $j) (i32.const 2))))
            (call $chain (i32.add (local.get $base) (i32.shl (local.get $j) (i32.const 3))) (local.get $nb)
              (i32.add (i32.load (local.get $p)) (local.get $together)) (local.get $t) (local.get $dt) (local.get $decay))
            (i32.store (local.get $p) (local.get $t))
            (local.set $k (i32.add (local.get $k) (i32.const 1)))
            (br $own)))
        (br $groups)))
    ;; The last few, one at a time.
    (block $lastDone
      (loop $last
        (br_if $lastDone (i32.ge_u (local.get $k) (local.get $count)))
        (local.set $j (i32.load (i32.add (local.get $list) (i32.shl (local.get $k) (i32.const 2)))))
        (local.set $p (i32.add (local.get $caughtUp) (i32.shl (local.get $j) (i32.const 2))))
        (call $chain (i32.add (local.get $base) (i32.shl (local.get $j) (i32.const 3))) (local.get $nb)
          (i32.load (local.get $p)) (local.get $t) (local.get $dt) (local.get $decay))
        (i32.store (local.get $p) (local.get $t))
        (local.set $k (i32.add (local.get $k) (i32.const 1)))
        (br $last))))
)
