package emulator_test

import (
	"fmt"
	"sync"
	"testing"

	"github.com/aciworker/aciworker/emulator"
	"github.com/aciworker/aciworker/emulator/emutest"
)

// BenchmarkGetAndList measures GET and list throughput through the official
// SDK with 2 000 container groups present.
func BenchmarkGetAndList(b *testing.B) {
	const groups = 2000
	e := emutest.Start(b, func(c *emulator.Config) {
		c.DisableThrottling = true
		c.MaxGroups, c.MaxCores = groups+10, groups+10
	})
	s := newSDK(b, e)
	ctx := ctxT(b)
	var wg sync.WaitGroup
	sem := make(chan struct{}, 32)
	for i := range groups {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			if _, err := s.groups.BeginCreateOrUpdate(ctx, s.set.ResourceGroup, fmt.Sprintf("bench-%04d", i), validGroup(), nil); err != nil {
				b.Error(err)
			}
		}()
	}
	wg.Wait()
	b.Run("get", func(b *testing.B) {
		b.SetParallelism(8)
		b.ResetTimer()
		b.RunParallel(func(pb *testing.PB) {
			i := 0
			for pb.Next() {
				if _, err := s.groups.Get(ctx, s.set.ResourceGroup, fmt.Sprintf("bench-%04d", i%groups), nil); err != nil {
					b.Error(err)
					return
				}
				i += 7
			}
		})
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "gets/s")
	})
	b.Run("list", func(b *testing.B) {
		pages := 0
		for b.Loop() {
			n := 0
			pager := s.groups.NewListByResourceGroupPager(s.set.ResourceGroup, nil)
			for pager.More() {
				page, err := pager.NextPage(ctx)
				if err != nil {
					b.Fatal(err)
				}
				n += len(page.Value)
				pages++
			}
			if n != groups {
				b.Fatalf("listed %d groups", n)
			}
		}
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "full-lists/s")
		b.ReportMetric(float64(pages)/b.Elapsed().Seconds(), "pages/s")
	})
}
