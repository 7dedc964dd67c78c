;; The dense LIF step of population.ts (lifDense) in WebAssembly. It must give
;; the same bits as the JavaScript loop (test/engine-wasm-population.test.ts
;; checks it): the same IEEE operations in the same order, no fused
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
  ;; Two neurons a vector while neither spikes (the common case): the same
  ;; operations lane by lane, the refractory condition and the lower bound by
  ;; compare and select (pmax(v, lb) is defined as v < lb ? lb : v). A pair
  ;; where one spikes is left as it was loaded and goes through the scalar
  ;; body, one neuron at a time, as does an odd last neuron.
  (func (export "lifDense")
    (param $state i32) (param $s i32) (param $spikeIdx i32) (param $prevCount i32) (param $n i32)
    (param $params i32) (param $unsettled i32) (param $track i32) (param $counts i32)
    (local $threshold f64) (local $rest f64) (local $resetPot f64) (local $refracLength f64)
    (local $R f64) (local $dt f64) (local $rate f64) (local $traceDecay f64) (local $lowerBound f64)
    (local $additive f64) (local $traceScale f64)
    (local $k i32) (local $i i32) (local $count i32) (local $u i32) (local $scalarLeft i32)
    (local $nb i32) (local $vAt i32) (local $rAt i32) (local $trAt i32) (local $xAt i32)
    (local $vi f64) (local $r f64) (local $tr f64)
    (local $THR v128) (local $REST v128) (local $RR v128) (local $DT v128) (local $RATE v128) (local $DECAY v128) (local $LB v128)
    (local $V v128) (local $RF v128) (local $AWAY v128)
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
        (if (i32.and (i32.eqz (local.get $scalarLeft)) (i32.lt_u (i32.add (local.get $i) (i32.const 1)) (local.get $n)))
          (then
            (local.set $V (v128.load (local.get $vAt)))
            (local.set $RF (v128.load (local.get $rAt)))
            (local.set $V (v128.bitselect
              (f64x2.add (local.get $V)
                (f64x2.mul
                  (f64x2.add (f64x2.sub (local.get $REST) (local.get $V)) (f64x2.mul (local.get $RR) (v128.load (local.get $xAt))))
                  (local.get $RATE)))
              (local.get $V)
              (f64x2.le (local.get $RF) (v128.const f64x2 0 0))))
            (if (i32.eqz (v128.any_true (f64x2.ge (local.get $V) (local.get $THR))))
              (then
                (v128.store (local.get $rAt) (f64x2.sub (local.get $RF) (local.get $DT)))
                (local.set $V (f64x2.pmax (local.get $V) (local.get $LB)))
                (v128.store (local.get $vAt) (local.get $V))
                (v128.store (local.get $trAt) (f64x2.mul (v128.load (local.get $trAt)) (local.get $DECAY)))
                ;; Each lane away from rest is all ones, -1: subtracted, it counts.
                (local.set $AWAY (i64x2.sub (local.get $AWAY) (f64x2.ne (local.get $V) (local.get $REST))))
                (local.set $i (i32.add (local.get $i) (i32.const 2)))
                (br $neurons)))
            (local.set $scalarLeft (i32.const 2))))
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
        (if (local.get $scalarLeft) (then (local.set $scalarLeft (i32.sub (local.get $scalarLeft) (i32.const 1)))))
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
)
